"""Git over HTTPS to AWS CodeCommit with the session's own AWS credentials (no Git credentials, no AWS CLI).

CodeCommit takes a SigV4 signature of a `GIT` request as the password: the scheme the AWS CLI's credential
helper and git-remote-codecommit use. The local cloud's git server needs none of this.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import re
import urllib.parse
from typing import Any

CODECOMMIT_HOST = re.compile(r"^git-codecommit(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$")


def region_of(clone_url: str) -> str | None:
    """The region of a CodeCommit HTTPS clone URL; None for any other URL (the local cloud's, for one)."""
    parts = urllib.parse.urlsplit(clone_url)
    match = CODECOMMIT_HOST.match(parts.hostname or "") if parts.scheme == "https" else None
    return match.group(1) if match else None


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def password(host: str, path: str, region: str, secret_key: str, now: datetime.datetime | None = None) -> str:
    """`<timestamp>Z<signature>`: the SigV4 signature of `GIT <path>` to `host`, service codecommit."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    timestamp, day = now.strftime("%Y%m%dT%H%M%S"), now.strftime("%Y%m%d")
    canonical = f"GIT\n{path}\n\nhost:{host}\n\nhost\n"
    scope = f"{day}/{region}/codecommit/aws4_request"
    to_sign = f"AWS4-HMAC-SHA256\n{timestamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    key = _hmac(_hmac(_hmac(_hmac(f"AWS4{secret_key}".encode(), day), region), "codecommit"), "aws4_request")
    return f"{timestamp}Z{hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()}"


def username(access_key: str, token: str | None) -> str:
    return access_key + (f"%{token}" if token else "")


def signed_url(clone_url: str, session: Any, now: datetime.datetime | None = None) -> str:
    """The clone URL with a user name and password git can use for about 15 minutes; other URLs unchanged."""
    region = region_of(clone_url)
    if region is None:
        return clone_url
    credentials = session.get_credentials()
    if credentials is None:
        raise ValueError(f"no AWS credentials to sign {clone_url} with: configure them (aws configure)")
    frozen = credentials.get_frozen_credentials()
    parts = urllib.parse.urlsplit(clone_url)
    user = urllib.parse.quote(username(frozen.access_key, frozen.token), safe="")
    secret = password(parts.hostname, parts.path, region, frozen.secret_key, now)
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:{secret}@{parts.hostname}"))


def redact(text: str) -> str:
    """Text with the user name and password taken out of any URL in it."""
    return re.sub(r"(https?://)[^/@\s]+@", r"\1***@", text)
