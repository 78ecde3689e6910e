"""Pushing to CodeCommit in an account: the signed clone URL built from the session's credentials."""

import datetime
import hashlib
import hmac
import urllib.parse

import boto3
import pytest

from mlops_workshop import codecommit_auth, pipeline
from mlops_workshop.config import WorkshopNames

URL = "https://git-codecommit.eu-west-1.amazonaws.com/v1/repos/mlops"
NOW = datetime.datetime(2026, 11, 26, 9, 30, 5, tzinfo=datetime.timezone.utc)


def sigv4_by_hand(secret, region, host, path, when):
    """SigV4 as AWS documents it, step by step, for a GIT request with only the host header signed."""
    canonical_request = "\n".join(["GIT", path, "", f"host:{host}", "", "host", ""])
    date, stamp = when.strftime("%Y%m%d"), when.strftime("%Y%m%dT%H%M%S")
    string_to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, f"{date}/{region}/codecommit/aws4_request",
                                hashlib.sha256(canonical_request.encode()).hexdigest()])
    key = ("AWS4" + secret).encode()
    for part in (date, region, "codecommit", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return stamp + "Z" + hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def test_only_codecommit_https_urls_have_a_region():
    assert codecommit_auth.region_of(URL) == "eu-west-1"
    assert codecommit_auth.region_of("https://git-codecommit-fips.us-east-2.amazonaws.com/v1/repos/x") == "us-east-2"
    assert codecommit_auth.region_of("https://git-codecommit.cn-north-1.amazonaws.com.cn/v1/repos/x") == "cn-north-1"
    assert codecommit_auth.region_of("http://127.0.0.1:4566/v1/repos/mlops") is None
    assert codecommit_auth.region_of("https://example.com/v1/repos/mlops") is None


def test_the_password_is_the_sigv4_signature_of_a_git_request():
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    expected = sigv4_by_hand(secret, "eu-west-1", "git-codecommit.eu-west-1.amazonaws.com", "/v1/repos/mlops", NOW)
    assert codecommit_auth.password("git-codecommit.eu-west-1.amazonaws.com", "/v1/repos/mlops", "eu-west-1", secret,
                                    NOW) == expected
    assert expected.startswith("20261126T093005Z") and len(expected) == 15 + 1 + 64


def test_the_password_agrees_with_botocores_signer():
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    host, path = "git-codecommit.eu-west-1.amazonaws.com", "/v1/repos/mlops"
    request = AWSRequest(method="GIT", url=f"https://{host}{path}")
    request.context["timestamp"] = NOW.strftime("%Y%m%dT%H%M%S")
    signer = SigV4Auth(Credentials("AKIDEXAMPLE", "secret"), "codecommit", "eu-west-1")
    signature = signer.signature(signer.string_to_sign(request, f"GIT\n{path}\n\nhost:{host}\n\nhost\n"), request)
    assert codecommit_auth.password(host, path, "eu-west-1", "secret", NOW) == f"{request.context['timestamp']}Z{signature}"


def test_the_signed_url_carries_the_key_and_session_token():
    session = boto3.session.Session(aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret",
                                    aws_session_token="tok/en+=", region_name="eu-west-1")
    parts = urllib.parse.urlsplit(codecommit_auth.signed_url(URL, session, NOW))
    assert urllib.parse.unquote(parts.username) == "AKIDEXAMPLE%tok/en+="
    assert parts.password == codecommit_auth.password(parts.hostname, "/v1/repos/mlops", "eu-west-1", "secret", NOW)
    assert (parts.hostname, parts.path) == ("git-codecommit.eu-west-1.amazonaws.com", "/v1/repos/mlops")


def test_other_urls_are_left_alone_and_secrets_never_reach_a_message():
    local = "http://127.0.0.1:4566/v1/repos/mlops"
    assert codecommit_auth.signed_url(local, None) == local
    text = "fatal: unable to access 'https://AKID%25tok:20261126T093005Zabc@git-codecommit.eu-west-1.amazonaws.com/'"
    assert "AKID" not in codecommit_auth.redact(text) and "https://***@git-codecommit" in codecommit_auth.redact(text)


def test_push_sources_pushes_to_the_signed_url_in_an_account(monkeypatch, tmp_path):
    class CodeCommit:
        def get_repository(self, repositoryName):
            return {"repositoryMetadata": {"cloneUrlHttp": URL}}

    class Session(boto3.session.Session):
        def client(self, name, **kwargs):
            assert name == "codecommit"
            return CodeCommit()

    pushed = []
    monkeypatch.setattr(pipeline.sources, "push_folder", lambda url, branch, *rest: pushed.append((url, branch)) or ("c", True))
    session = Session(aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret", region_name="eu-west-1")
    pipeline.sources.push_sources(session, WorkshopNames(region="eu-west-1"), tmp_path, progress=lambda _: None)
    assert [branch for _, branch in pushed] == ["main", "etl", "test"]
    assert all(urllib.parse.urlsplit(url).username == "AKIDEXAMPLE" for url, _ in pushed)


def test_a_failed_push_names_the_repository_without_the_password(tmp_path):
    signed = "https://AKID:20261126T093005Zsecret@127.0.0.1:9/v1/repos/mlops"
    folder = tmp_path / "src"
    folder.mkdir()
    (folder / "a.txt").write_text("a")
    with pytest.raises(pipeline.PipelineError) as raised:
        pipeline.sources.push_folder(signed, "main", folder, tmp_path / "git", "m")
    assert "secret" not in str(raised.value) and "AKID" not in str(raised.value)
    assert "127.0.0.1:9/v1/repos/mlops" in str(raised.value)
