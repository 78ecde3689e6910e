"""IAM on the local cloud: every call is judged as AWS's IAM judges it, before it reaches a service or moto.

The dispatcher hands each request to `authorize()`, which finds who signed it (principals.py), what it needs
(operations.py reads the operation from botocore's models, calls.py the actions and resource ARNs from the Service
Authorization Reference), judges each need against the principal's policies (policy.py) and answers a refusal in
the call's own protocol (exceptions.py), or lets the call through. Every decision goes to the decision log.

What the other services call:
- `credentials_for(role_arn, service=..., session_name=...)`: temporary credentials of a role that `service`
  assumes (a function's execution role, a build's service role), refused if the role's trust policy does not let
  that service assume it;
- `check_pass_role(principal, role_arn, service)`: may the principal pass the role to the service, and does the
  role trust it (API calls that take a role are checked here automatically; a service uses this for roles it is
  given another way, as CodePipeline's CloudFormation action);
- `judge(principal, action, resource, context=...)`: one decision, for what a service does itself with a role
  (reading a training channel) or for a service principal against a resource policy (EventBridge invoking a
  function: `principal=service_principal("events.amazonaws.com")`, `context={"aws:SourceArn": rule_arn}`);
- `session_credentials(role_arn, service)`: the same, kept and renewed before they expire, for a service's own
  calls as a role (SageMaker reading a training channel, CodePipeline reading its artifacts);
- `caller()`: the principal of the call this thread answers, and `credentials_of(principal)`: credentials that act as
  that principal (what a service uses when it goes on with a caller's request: a stack without a service role);
- `judge_call(principal, service, operation, params)`: an API call a service makes without sending it (moto
  provisions a stack's resources itself), judged as the call would be;
- `principal_for_credentials(credentials)` and `decisions(identity)`.

The setting `iam`: "enforce" (the default) or "off" (every call passes unjudged and unrecorded, for experiments),
or a mapping {"mode": "enforce", "unknown_keys": "administrator" | "refuse", "administrator_keys": [...],
"log": true}. `unknown_keys` decides what a key the local cloud never issued and that is not in AWS's format is
("testing", "ak"): the administrator (the default, what every such key was before IAM was enforced) or refused with
InvalidClientTokenId; a key in AWS's format that the local cloud never issued is always refused.

Calls the local cloud defines for itself are not judged: its health route, moto's `/moto-api`, the unsigned routes
its services answer (a custom resource's response); git over HTTP is judged (GitPull, GitPush) when it carries
credentials, as AWS's credential helper sends them, and is the administrator's when it carries none.
A call the local cloud cannot resolve to an IAM action is refused for every principal but the administrator,
saying so; a resource part it cannot tell is judged as unknown (only a `*` in the policy covers it).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import logging
import re
import statistics
import threading
import random
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

from ..protocol import AwsRequest, AwsResponse
from ..services import Service
from . import exceptions, patches, principals
from .calls import Context, Describer, Need
from .catalog import Catalog
from .decisions import DecisionLog
from .exceptions import AssumeRoleRefused, refusal
from .operations import Operation, Operations
from .policy import UNKNOWN_PART, Decision, Policy, Principal, Request, evaluate

log = logging.getLogger("mlops_workshop.localcloud.iam")

# A kept session is renewed when less than this many seconds of it remain (session_credentials).
SESSION_RENEWAL_S = 900
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/[^/]+/([^/]+)/([^/]+)/aws4_request")
# The STS calls AWS answers without a signature (moto's server routes them by their Action the same way).
UNSIGNED_ACTIONS = frozenset({"AssumeRoleWithWebIdentity", "AssumeRoleWithSAML"})
# The errors a service gives when a role passed to it does not trust it (what AWS answers on the create call).
TRUST_ERRORS = {
    "lambda.amazonaws.com": ("InvalidParameterValueException", 400,
                             "The role defined for the function cannot be assumed by Lambda."),
    "sagemaker.amazonaws.com": ("ValidationException", 400,
                                "Could not assume role {role}. Please ensure that the role exists and allows principal "
                                "'sagemaker.amazonaws.com' to assume the role."),
    "codebuild.amazonaws.com": ("InvalidInputException", 400,
                                "CodeBuild is not authorized to perform: sts:AssumeRole on {role}"),
    "codepipeline.amazonaws.com": ("InvalidStructureException", 400,
                                   "CodePipeline is not authorized to perform AssumeRole on role {role}"),
    "states.amazonaws.com": ("AccessDeniedException", 400,
                             "Neither the global service principal states.amazonaws.com, nor the regional one is "
                             "authorized to assume the provided role."),
    "cloudformation.amazonaws.com": ("ValidationError", 400, "Role {role} is invalid or cannot be assumed"),
}


@dataclass
class Verdict:
    """The outcome of judging one call or one need: allowed, or the refusal to answer."""

    allowed: bool
    message: str = ""
    decision: Decision | None = None
    need: Need | None = None
    response: AwsResponse | None = None
    decisions: list[tuple[Need, Decision]] = field(default_factory=list)


class IamService(Service):
    name = "iam"

    def start(self) -> None:
        setting = self.settings("iam", "enforce")
        options = setting if isinstance(setting, dict) else {"mode": setting}
        self.mode = str(options.get("mode", "enforce"))
        if self.mode not in ("enforce", "off"):
            raise ValueError(f"setting iam must be 'enforce' or 'off', not {self.mode!r}")
        self.unknown_keys = str(options.get("unknown_keys", "administrator"))
        if self.unknown_keys not in ("administrator", "refuse"):
            raise ValueError(f"setting iam.unknown_keys must be 'administrator' or 'refuse', not {self.unknown_keys!r}")
        from ..clients import DUMMY_CREDENTIALS
        from ..server import ACCOUNT_ID
        self.account = ACCOUNT_ID
        self.administrator_keys = {DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"], *options.get("administrator_keys", ())}
        if self.enforcing:
            Catalog.shared()   # starts reading the Service Authorization Reference in the background
        self.operations = Operations.shared()
        self._describer: Describer | None = None
        self.log = DecisionLog(self.cloud.state_dir / "iam" / "decisions")
        self.recording = bool(options.get("log", True))
        self._issued: dict[str, float] = {}
        self._sessions: dict[tuple[str, str, str], dict[str, str]] = {}
        self._lock = threading.Lock()
        self._calls = threading.local()
        if self.recording:
            self.log.start()
        patches.apply(self)

    def reset(self) -> None:
        with self._lock:
            self._issued.clear()  # moto's STS forgot the sessions too

    def stop(self) -> None:
        self.log.close()
        super().stop()

    @property
    def enforcing(self) -> bool:
        return self.mode == "enforce"

    @property
    def catalog(self) -> Catalog:
        return Catalog.shared()

    @property
    def describer(self) -> Describer:
        if self._describer is None:
            self._describer = Describer(self.catalog, self.account, self._lookup)
        return self._describer

    # The dispatcher's hook.
    def authorize(self, req: AwsRequest, owner: str | None,
                  environ: dict[str, Any] | None = None) -> AwsResponse | None:
        """None to let the call through, else the refusal to answer it with (`environ`: the WSGI request, whose
        query string is read again with its blank values: S3's `?versioning`)."""
        self._calls.principal = None
        if not self.enforcing or self._local(req):
            return None
        response = self._authorize(req, owner, environ)
        if response is not None and req.method == "HEAD":
            response.body = b""   # as AWS answers a HEAD: the status and headers only
        return response

    def _authorize(self, req: AwsRequest, owner: str | None, environ: dict[str, Any] | None) -> AwsResponse | None:
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True) if environ else req.query
        req = dataclasses.replace(req, query=query, headers=dict(req.headers), path_params=dict(req.path_params))
        git = owner == "codecommit" and req.action == "GitSmartHttp"
        key, token = self._credentials(req, git)
        if git and key is None:
            return None   # git without a credential helper: the administrator (the workshop's own pushes)
        if git:
            req = self._as_git_operation(req)
        action = _query_action(req) if key is None and not req.service else ""
        if action in UNSIGNED_ACTIONS:
            return None   # STS's web-identity and SAML calls are unsigned: the token is their credential
        if action:
            return refusal("missing", "query")   # any other call of the query protocol must be signed
        op = self._operation(req)
        protocol = op.protocol if op else _guess_protocol(req)
        query_compatible = bool(op and op.query_compatible)
        if key is None:
            if req.service in ("", "s3") and (op is None or op.prefix == "s3"):
                principal = principals.anonymous(self.account)
            else:
                return refusal("missing", protocol)
        else:
            try:
                principal = principals.resolve(self.account, key, token, self.administrator_keys, self.unknown_keys)
            except principals.CredentialError as error:
                self._record_refused_credentials(key, op, error.code)
                return refusal(error.code, protocol, query_compatible=query_compatible)
        self._calls.principal = principal
        return self._judged(principal, op, req, protocol, query_compatible)

    def _judged(self, principal: Principal, op: Operation | None, req: AwsRequest, protocol: str,
                query_compatible: bool) -> AwsResponse | None:
        try:
            verdict = self.judge_operation(principal, op, req)
        except Exception as exc:   # a bug or an invalid stored policy must not pass a call, nor drop it
            log.exception("judging %s %s failed", req.method, req.path)
            if principal.kind == "administrator":
                return None
            text = exceptions.message(principal.arn, f"{op.prefix}:{op.name}" if op else "?", "*",
                                      f"because the local cloud failed to judge this call: {exc}",
                                      protocol == "rest-xml")
            return refusal("denied", protocol, text, query_compatible)
        return verdict.response if not verdict.allowed else None

    def _local(self, req: AwsRequest) -> bool:
        if req.path.startswith("/moto-api") or re.match(r"^/cloudformation_[a-z0-9-]+/cfnresponse", req.path):
            return True
        for route, service in list(getattr(self.cloud, "_routes", [])):
            if not route.signed and service != "codecommit" and route.method == req.method \
                    and route.pattern.match(req.path):
                return True
        return False

    def _credentials(self, req: AwsRequest, git: bool = False) -> tuple[str | None, str | None]:
        header = req.headers.get("authorization", "")
        match = _CREDENTIAL.search(header)
        if match:
            return match.group(1), req.headers.get("x-amz-security-token")
        credential = (req.query.get("X-Amz-Credential") or [""])[0]
        if credential:
            parts = credential.split("/")
            if len(parts) >= 4 and not req.service:
                req.service, req.region = parts[3], parts[2]
            return parts[0], (req.query.get("X-Amz-Security-Token") or [None])[0]
        # S3's signature version 2, which boto3 still uses to presign S3 URLs for an endpoint of its own.
        v2 = (req.query.get("AWSAccessKeyId") or [""])[0] or (header[4:].rsplit(":", 1)[0]
                                                                if header.startswith("AWS ") else "")
        if v2:
            req.service = req.service or "s3"
            token = (req.query.get("x-amz-security-token") or req.query.get("X-Amz-Security-Token") or [None])[0]
            return v2, token or req.headers.get("x-amz-security-token")
        if req.method == "POST" and req.headers.get("content-type", "").startswith("multipart/form-data"):
            fields = _post_policy_fields(req)   # S3's browser-based upload: the form's policy is signed
            key = (fields.get("x-amz-credential", "").split("/", 1)[0] or fields.get("awsaccesskeyid"))
            if key:
                req.service = req.service or "s3"
                return key, fields.get("x-amz-security-token")
        if git and header.lower().startswith("basic "):
            try:
                user, _, _password = base64.b64decode(header[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return None, None
            user = unquote(user)
            key, _, token = user.partition("%")   # the credential helper appends a session's token after a %
            return key or None, token or None
        return None, None

    def _as_git_operation(self, req: AwsRequest) -> AwsRequest:
        service = (req.query.get("service") or [""])[0]
        rest = req.path_params.get("rest", "")
        push = rest == "git-receive-pack" or service == "git-receive-pack"
        req.service = "codecommit"
        req.path_params = dict(req.path_params, operation="GitReceivePack" if push else "GitUploadPack")
        return req

    def _operation(self, req: AwsRequest) -> Operation | None:
        if req.service == "codecommit" and req.path_params.get("operation"):
            return Operation("codecommit", req.path_params["operation"], "rest-json", "codecommit",
                             {"repo": req.path_params.get("repo", "")})
        if not req.service:
            req.service = "s3"   # an unsigned call is judged as S3's anonymous access
        try:
            return self.operations.resolve(req, self.catalog.prefixes())
        except Exception:  # an unreadable request is judged as unknown, not passed
            log.exception("cannot resolve the operation of %s %s", req.method, req.path)
            return None

    # Judging.
    def judge_operation(self, principal: Principal, op: Operation | None, req: AwsRequest) -> Verdict:
        """Judge a whole call: every action it needs on every resource."""
        call = self.describer.describe(op, req.region or self.cloud.region, req.headers, req.body)
        protocol = op.protocol if op else _guess_protocol(req)
        query_compatible = bool(op and op.query_compatible)
        s3 = protocol == "rest-xml"
        label = f"{op.prefix}:{op.name}" if op else f"{req.service or '?'}:{req.method} {req.path}"
        if call.unresolved:
            allowed = principal.kind == "administrator"
            text = exceptions.message(principal.arn, label, "*",
                                      f"because the local cloud cannot judge this call: {call.unresolved}", s3)
            self._record(principal, Need(label, "*"), Decision(allowed, call.unresolved, "local cloud"), op)
            if allowed:
                return Verdict(True)
            return Verdict(False, text, response=refusal("denied", protocol, text, query_compatible))
        verdict = Verdict(True)
        for need in call.needs:
            decision = self._decide(principal, need, op, req)
            self._record(principal, need, decision, op)
            verdict.decisions.append((need, decision))
            if decision.allowed:
                continue
            if decision.policy_type == "trust policy" and need.pass_role_to:
                code, status, text = TRUST_ERRORS.get(need.pass_role_to, ("AccessDenied", 403, "{role}"))
                text = text.format(role=need.resource)
                response = refusal("denied", protocol, text, query_compatible, code=code, status=status)
                return Verdict(False, text, decision, need, response, verdict.decisions)
            text = self._message(principal, need, decision, s3)
            return Verdict(False, text, decision, need, refusal("denied", protocol, text, query_compatible),
                           verdict.decisions)
        return verdict

    def _decide(self, principal: Principal, need: Need, op: Operation | None, req: AwsRequest | None,
                extra: dict[str, Any] | None = None) -> Decision:
        if need.action.lower() == "sts:assumerole":
            return self._assume_role_decision(principal, need, op, req, extra)
        if principal.kind == "administrator":
            # As before IAM was enforced: everything, a passed role's trust included (check_pass_role checks it).
            return Decision(True, "allowed", "administrator")
        context = Context(principal, need, op, req.region if req else self.cloud.region, req.headers if req else {},
                          extra, self._issued.get(principal.access_key or ""))
        request = Request(principal, need.action, need.resource, context)  # type: ignore[arg-type]
        held = principals.policies_of(principal, principals.session_policy(self.account, principal.access_key or "")
                                      if principal.kind == "role-session" else None)
        resource_policies = self._resource_policies(need)
        decision = evaluate(request, held.identity, resource_policies, held.boundary, held.session)
        if need.unknown and not decision.allowed and not decision.unknown and _could_allow(
                held.identity + resource_policies, request):
            # A grant that names the resource might allow it: say what the local cloud could not tell.
            decision.unknown = f"{', '.join('${' + u + '}' for u in need.unknown)} of the resource"
        if decision.allowed and need.pass_role_to:
            # The service will assume the role for this account: it sends aws:SourceAccount, as trust policies expect.
            trusted = self._trusts(need.resource, need.pass_role_to, {"aws:SourceAccount": self.account})
            if not trusted:
                return Decision(False, f"the role's trust policy does not let {need.pass_role_to} assume it",
                                "trust policy")
        return decision

    def _assume_role_decision(self, principal: Principal, need: Need, op: Operation | None, req: AwsRequest | None,
                              extra: dict[str, Any] | None) -> Decision:
        found = principals.role(self.account, need.resource) if need.resource.startswith("arn:aws:iam::") else None
        if found is None:
            return Decision(False, "", "trust policy")   # AWS refuses a role that does not exist the same way
        context = Context(principal, need, op, req.region if req else self.cloud.region, req.headers if req else {},
                          extra, None)
        request = Request(principal, need.action, found.arn, context)  # type: ignore[arg-type]
        trust = [Policy.compile(found.assume_role_policy_document, f"{found.name} trust policy")]
        if principal.kind == "administrator":
            identity = [Policy.compile('{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}',
                                       "administrator")]
            return evaluate(request, identity, trust, trust=True)
        held = principals.policies_of(principal, principals.session_policy(self.account, principal.access_key or "")
                                      if principal.kind == "role-session" else None)
        return evaluate(request, held.identity, trust, held.boundary, held.session, trust=True)

    def _resource_policies(self, need: Need) -> list[Policy]:
        arn = need.resource
        try:
            if arn.startswith("arn:aws:s3:::"):
                bucket = arn[len("arn:aws:s3:::"):].split("/", 1)[0]
                from moto.s3.models import s3_backends
                found = s3_backends[self.account]["aws"].buckets.get(bucket)
                if found is not None and found.policy:
                    return [Policy.compile(found.policy, f"bucket policy of {bucket}")]
            elif arn.startswith("arn:aws:lambda:") and ":function:" in arn and UNKNOWN_PART not in arn:
                region = arn.split(":")[3]
                name, _, qualifier = arn.split(":function:", 1)[1].partition(":")
                from moto.awslambda.models import lambda_backends
                function = lambda_backends[self.account][region].get_function(name, qualifier or None)
                policy = getattr(function, "policy", None)
                if policy is not None and getattr(policy, "statements", None):
                    return [_lambda_policy(policy, name)]
        except Exception:  # a resource that does not exist has no policy; the service answers its own error
            return []
        return []

    def _trusts(self, role_arn: str, service: str, extra: dict[str, Any]) -> bool:
        found = principals.role(self.account, role_arn)
        if found is None:
            return False
        principal = principals.service(service, self.account)
        need = Need("sts:AssumeRole", found.arn, catalog_action=self.catalog.action("sts:AssumeRole"))
        context = Context(principal, need, None, self.cloud.region, {}, extra)
        trust = [Policy.compile(found.assume_role_policy_document, f"{found.name} trust policy")]
        request = Request(principal, "sts:AssumeRole", found.arn, context)  # type: ignore[arg-type]
        return evaluate(request, (), trust, trust=True).allowed

    def _message(self, principal: Principal, need: Need, decision: Decision, s3: bool) -> str:
        text = exceptions.message(principal.arn, need.action, need.resource.replace(UNKNOWN_PART, "*"),
                                  decision.reason, s3)
        if decision.unknown:
            text += f" (the local cloud cannot tell {decision.unknown} for this request)"
        return text

    # What the other services call.
    def judge(self, principal: Principal, action: str, resource: str = "*", context: dict[str, Any] | None = None,
              record: bool = True, protocol: str = "json") -> Verdict:
        """One decision: may `principal` do `action` (s3:GetObject) on `resource`; context adds condition keys
        (aws:SourceArn, aws:SourceAccount for a service principal). `verdict.response` is the refusal in `protocol`."""
        catalog_action = self.catalog.action(action)
        need = Need(catalog_action.full_name if catalog_action else action, resource, catalog_action=catalog_action)
        if not self.enforcing:
            return Verdict(True, need=need)
        if catalog_action is None and principal.kind != "administrator":
            decision = Decision(False, f"the Service Authorization Reference has no action {action}", "local cloud")
        else:
            decision = self._decide(principal, need, None, None, context)
        if record:
            self._record(principal, need, decision, None)
        if decision.allowed:
            return Verdict(True, decision=decision, need=need)
        text = self._message(principal, need, decision, protocol == "rest-xml") if catalog_action else \
            exceptions.message(principal.arn, action, resource, f"because the local cloud cannot judge it: "
                               f"{decision.reason}")
        return Verdict(False, text, decision, need, refusal("denied", protocol, text))

    def check_pass_role(self, principal: Principal, role_arn: str, service: str,
                        resource_arn: str | None = None) -> Verdict:
        """May `principal` pass `role_arn` to `service` (lambda.amazonaws.com), and does the role trust `service`?
        `verdict.decision.policy_type == "trust policy"` when it is the trust that refuses."""
        action = self.catalog.action("iam:PassRole")
        keys: dict[str, Any] = {"iam:passedtoservice": service}
        if resource_arn:
            keys["iam:associatedresourcearn"] = resource_arn
        need = Need("iam:PassRole", role_arn, (), keys, action, service)
        if not self.enforcing:
            return Verdict(True, need=need)
        if principal.kind == "administrator":
            decision = Decision(True, "allowed", "administrator")
            if not self._trusts(role_arn, service, {"aws:SourceAccount": self.account}):
                decision = Decision(False, f"the role's trust policy does not let {service} assume it",
                                    "trust policy")
        else:
            decision = self._decide(principal, need, None, None)
        self._record(principal, need, decision, None)
        if decision.allowed:
            return Verdict(True, decision=decision, need=need)
        if decision.policy_type == "trust policy":
            code, status, text = TRUST_ERRORS.get(service, ("AccessDenied", 403, "{role}"))
            text = text.format(role=role_arn)
            return Verdict(False, text, decision, need, refusal("denied", "json", text, code=code, status=status))
        text = self._message(principal, need, decision, False)
        return Verdict(False, text, decision, need, refusal("denied", "json", text))

    def credentials_for(self, role_arn: str, service: str, session_name: str | None = None,
                        source_arn: str | None = None, source_account: str | None = None,
                        duration_seconds: int = 3600) -> dict[str, str]:
        """Temporary credentials of `role_arn` as `service` assumes it, as Lambda and CodeBuild put them in the
        environment; AssumeRoleRefused (AWS's AccessDenied) when the role's trust policy does not let it."""
        principal = principals.service(service, self.account)
        found = principals.role(self.account, role_arn)
        extra = {k: v for k, v in (("aws:SourceArn", source_arn), ("aws:SourceAccount", source_account)) if v}
        need = Need("sts:AssumeRole", found.arn if found else role_arn,
                    catalog_action=self.catalog.action("sts:AssumeRole"))
        if self.enforcing:
            allowed = found is not None and self._trusts(found.arn, service, extra)
            self._record(principal, need, Decision(allowed, "allowed" if allowed else "trust policy", "trust policy"),
                         None)
            if not allowed:
                why = "does not exist" if found is None else f"does not let {service} assume it"
                raise AssumeRoleRefused(f"{service} is not authorized to perform: sts:AssumeRole on resource: "
                                        f"{need.resource} (the role {why})", need.resource, service)
        if found is None:
            raise AssumeRoleRefused(f"{service} is not authorized to perform: sts:AssumeRole on resource: "
                                    f"{role_arn} (the role does not exist)", role_arn, service)
        from moto.sts.models import sts_backends
        session = sts_backends[self.account]["aws"].assume_role(
            region_name=self.cloud.region, role_session_name=session_name or f"{service.split('.')[0]}-"
            f"{random.getrandbits(48):012x}", role_arn=found.arn, policy=None, duration=duration_seconds,
            external_id=None)
        with self._lock:
            self._issued[session.access_key_id] = time.time()
        expiration = session.expiration.replace(tzinfo=datetime.timezone.utc) if session.expiration.tzinfo is None \
            else session.expiration
        return {"AWS_ACCESS_KEY_ID": session.access_key_id, "AWS_SECRET_ACCESS_KEY": session.secret_access_key,
                "AWS_SESSION_TOKEN": session.session_token,
                "Expiration": expiration.strftime("%Y-%m-%dT%H:%M:%SZ")}

    def session_credentials(self, role_arn: str, service: str, session_name: str | None = None) -> dict[str, str]:
        """`credentials_for`, kept per role, service and session name and renewed when less than a quarter of an
        hour remains: a service's own calls as a role share one session (and so one client per service). With IAM
        off, the administrator's."""
        from ..clients import DUMMY_CREDENTIALS
        if not self.enforcing:
            return dict(DUMMY_CREDENTIALS)   # nothing is judged: the administrator's keys do
        key = (role_arn, service, session_name or "")
        with self._lock:
            found = self._sessions.get(key)
        if found is not None and principals.session_for_key(self.account, found["AWS_ACCESS_KEY_ID"]) is not None:
            expires = datetime.datetime.strptime(found["Expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(
                tzinfo=datetime.timezone.utc)
            if (expires - datetime.datetime.now(datetime.timezone.utc)).total_seconds() > SESSION_RENEWAL_S:
                return found
        fresh = self.credentials_for(role_arn, service, session_name=session_name)
        with self._lock:
            self._sessions[key] = fresh
        return fresh

    def caller(self) -> Principal | None:
        """The principal of the call this thread is answering (None outside a call, or with IAM off)."""
        return getattr(self._calls, "principal", None)

    def credentials_of(self, principal: Principal | None) -> dict[str, str]:
        """Credentials that act as `principal`, as a service that goes on with a caller's request uses the caller's
        own (a role session's keys, a user's access key); the administrator's for None."""
        from ..clients import DUMMY_CREDENTIALS
        if principal is None or principal.kind == "administrator":
            return dict(DUMMY_CREDENTIALS)
        if principal.kind == "role-session":
            assumed = principals.session_for_key(self.account, principal.access_key or "")
            if assumed is not None:
                return {"AWS_ACCESS_KEY_ID": assumed.access_key_id, "AWS_SECRET_ACCESS_KEY": assumed.secret_access_key,
                        "AWS_SESSION_TOKEN": assumed.session_token}
        if principal.kind == "user":
            from moto.iam.models import iam_backends
            user = iam_backends[self.account]["aws"].get_user(principal.name)
            key = next((k for k in user.access_keys if k.access_key_id == principal.access_key), None)
            if key is not None:
                return {"AWS_ACCESS_KEY_ID": key.access_key_id, "AWS_SECRET_ACCESS_KEY": key.secret_access_key}
        raise ValueError(f"{principal.arn} holds no credentials the local cloud can act with")

    def judge_call(self, principal: Principal, service: str, operation: str, params: dict[str, Any],
                   region: str | None = None) -> Verdict:
        """Judge an API call (botocore's service and operation names, the request's parameters) that a service makes
        for `principal` without sending it, as `authorize` judges the same call sent: every action it needs, the
        roles it passes and their trust."""
        if not self.enforcing:
            return Verdict(True)
        model = self.operations.model(service, set(self.catalog.prefixes()))
        op = Operation(model.name, operation, model.protocol, model.prefix, dict(params), model.query_compatible,
                       model.members(operation))
        req = AwsRequest(model.prefix, operation, region or self.cloud.region, "POST", "/", {}, b"", {})
        return self.judge_operation(principal, op, req)

    def principal_for_credentials(self, credentials: dict[str, str]) -> Principal:
        """The principal holding these credentials (AWS_ACCESS_KEY_ID, AWS_SESSION_TOKEN)."""
        return principals.resolve(self.account, credentials["AWS_ACCESS_KEY_ID"],
                                  credentials.get("AWS_SESSION_TOKEN"), self.administrator_keys, self.unknown_keys)

    def service_principal(self, name: str) -> Principal:
        return principals.service(name, self.account)

    def decisions(self, identity: str | None = None) -> list[dict[str, Any]]:
        """The decisions recorded, for one principal (a role's ARN, a service, "localcloud") or all."""
        return self.log.read(identity)

    # The decision log.
    def _record(self, principal: Principal, need: Need, decision: Decision, op: Operation | None) -> None:
        if not self.recording:
            return
        entry = {"time": time.time(), "principal": principal.arn, "identity": principal.identity,
                 "kind": principal.kind,
                 "action": need.action, "resource": need.resource.replace(UNKNOWN_PART, "*"),
                 "allowed": decision.allowed, "why": decision.statement or decision.reason,
                 "policy": decision.policy_type}
        if op is not None:
            entry["operation"] = f"{op.service}:{op.name}"
        if decision.unknown:
            entry["unknown"] = decision.unknown
        self.log.record(principal.identity if principal.kind != "administrator" else principals.ADMINISTRATOR_NAME,
                        entry)

    def _record_refused_credentials(self, key: str, op: Operation | None, code: str) -> None:
        if self.recording:
            self.log.record("unknown-credentials", {
                "time": time.time(), "principal": key, "identity": "unknown-credentials", "kind": "unknown",
                "action": f"{op.prefix}:{op.name}" if op else None, "allowed": False,
                "why": "expired session" if code == "expired" else "unknown access key"})

    def _lookup(self, kind: str, name: str, region: str) -> str | None:
        """What a resource ARN needs beyond the request: a stack's id, a role's path."""
        try:
            if kind == "cloudformation-stack":
                from moto.cloudformation.models import cloudformation_backends
                backend = cloudformation_backends[self.account][region]
                for stack in backend.stacks.values():
                    if stack.name == name and stack.status != "DELETE_COMPLETE":
                        return str(stack.stack_id)
            if kind == "iam-role-path":
                found = principals.role(self.account, name)
                return found.path if found is not None else None
        except Exception:
            return None
        return None

    # Benchmark.
    def benchmark(self, calls: int = 2000, show: bool = True) -> dict[str, Any]:
        """Judge representative calls of a role session in-process; the median cost of authorization in µs."""
        return run_benchmark(self, calls, show)


def _could_allow(policies: list[Policy], request: Request) -> bool:
    return any(statement.effect == "Allow" and statement.action_matches(request.action)
               and statement.resource_could_match(request.resource, request.context)
               for policy in policies for statement in policy.statements)


def _lambda_policy(policy: Any, name: str) -> Policy:
    import json
    statements = []
    for statement in policy.statements:
        principal = statement.get("Principal")
        if isinstance(principal, str) and principal != "*":
            # moto keeps AddPermission's principal as given; Lambda writes {"AWS": ...} or {"Service": ...}.
            kind = "Service" if principal.endswith(".amazonaws.com") else "AWS"
            statement = {**statement, "Principal": {kind: principal}}
        statements.append(statement)
    return Policy.compile(json.dumps({"Version": "2012-10-17", "Statement": statements}, sort_keys=True),
                          f"function policy of {name}")


def _guess_protocol(req: AwsRequest) -> str:
    if req.service in ("s3", "s3express") or not req.service:
        return "rest-xml"
    if "x-amz-target" in req.headers:
        return "json"
    if "x-www-form-urlencoded" in req.headers.get("content-type", ""):
        return "query"
    return "rest-json"


def run_benchmark(iam: IamService, calls: int = 2000, show: bool = True) -> dict[str, Any]:
    """The authorization cost of `calls` requests of the kinds the pipeline makes, by a role session with a
    least-privilege policy: resolve the operation, build the needs, read the role's policies, evaluate."""
    import json
    from moto.iam.models import iam_backends
    name = f"benchmark-iam-{random.getrandbits(32):08x}"
    backend = iam_backends[iam.account]["aws"]
    trust = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    role = backend.create_role(name, trust, "/", None, "", [], None)
    backend.put_role_policy(name, "work", json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "arn:aws:s3:::bench-*/*"},
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::bench-*"},
        {"Effect": "Allow", "Action": ["sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob"],
         "Resource": "arn:aws:sagemaker:*:*:training-job/mlops-*"},
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*",
         "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}},
        {"Effect": "Allow", "Action": ["codepipeline:PutJobSuccessResult"], "Resource": "*"},
        {"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "*"}]}))
    credentials = iam.credentials_for(role.arn, "lambda.amazonaws.com", session_name="benchmark")
    requests = _sample_requests(iam, credentials, role.arn)
    principal = iam.principal_for_credentials(credentials)
    times: list[float] = []
    decisions = 0
    try:
        for index in range(calls):
            req = requests[index % len(requests)]
            began = time.perf_counter()
            key, token = iam._credentials(req)
            who = principals.resolve(iam.account, key or "", token, iam.administrator_keys, iam.unknown_keys)
            verdict = iam.judge_operation(who, iam._operation(req), req)
            times.append(time.perf_counter() - began)
            decisions += len(verdict.decisions)
    finally:
        backend.delete_role_policy(name, "work")
        backend.delete_role(name)
    median_us = statistics.median(times) * 1e6
    result = {"calls": calls, "median_us": round(median_us, 1), "p90_us": round(sorted(times)[int(0.9 * len(times))]
                                                                               * 1e6, 1),
              "decisions": decisions, "principal": principal.arn, "target_us": 1000}
    result["met"] = median_us <= 1000
    if show:
        print(f"iam: judging a call costs {median_us:.0f} µs at the median (p90 {result['p90_us']:.0f} µs) over "
              f"{calls} calls of {len(requests)} kinds by a role session (target <= 1000 µs: "
              f"{'met' if result['met'] else 'NOT met'})")
    return result


def _sample_requests(iam: IamService, credentials: dict[str, str], role_arn: str) -> list[AwsRequest]:
    """Requests as boto3 signs them, captured before they leave (no server involved)."""
    import boto3
    from botocore.config import Config
    captured: list[Any] = []

    class Captured(Exception):
        pass

    def capture(request: Any, **_: Any) -> None:
        captured.append(request)
        raise Captured()
    session = boto3.session.Session(aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
                                    aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
                                    aws_session_token=credentials["AWS_SESSION_TOKEN"], region_name=iam.cloud.region)
    calls = [
        ("s3", "get_object", {"Bucket": "bench-data", "Key": "training/train.csv"}),
        ("s3", "put_object", {"Bucket": "bench-data", "Key": "out/model.tar.gz", "Body": b"x"}),
        ("s3", "list_objects_v2", {"Bucket": "bench-data", "Prefix": "training/"}),
        ("sagemaker", "describe_training_job", {"TrainingJobName": "mlops-abalone-1"}),
        ("sagemaker", "create_training_job", {
            "TrainingJobName": "mlops-abalone-2", "RoleArn": role_arn,
            "AlgorithmSpecification": {"TrainingImage": "x", "TrainingInputMode": "File"},
            "OutputDataConfig": {"S3OutputPath": "s3://bench-data/out"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
            "StoppingCondition": {"MaxRuntimeInSeconds": 60}}),
        ("codepipeline", "put_job_success_result", {"jobId": "11111111-2222-3333-4444-555555555555"}),
        ("s3", "delete_object", {"Bucket": "bench-data", "Key": "x"}),
    ]
    found: list[AwsRequest] = []
    for service, method, params in calls:
        client = session.client(service, endpoint_url=iam.cloud.endpoint_url,
                                config=Config(retries={"max_attempts": 1}))
        client.meta.events.register("before-send", capture)
        try:
            getattr(client, method)(**params)
        except Captured:
            pass
        found.append(to_aws_request(captured[-1]))
    return found


def to_aws_request(prepared: Any) -> AwsRequest:
    """A botocore prepared request as the dispatcher would parse it."""
    from urllib.parse import parse_qs, urlsplit
    url = urlsplit(prepared.url)
    headers = {k.lower(): (v.decode() if isinstance(v, bytes) else v) for k, v in prepared.headers.items()}
    headers.setdefault("host", url.netloc)
    match = re.search(r"Credential=[^/]+/[^/]+/([^/]+)/([^/]+)/aws4_request", headers.get("authorization", ""))
    region, signing = (match.group(1), match.group(2)) if match else ("us-east-1", "")
    body = prepared.body or b""
    if isinstance(body, str):
        body = body.encode()
    elif hasattr(body, "read"):
        body = body.read()
    target = headers.get("x-amz-target")
    action = target.rsplit(".", 1)[1] if target and "." in target else None
    return AwsRequest(signing, action, region, prepared.method, unquote(url.path), headers, body,
                      parse_qs(url.query, keep_blank_values=True))


def _query_action(req: AwsRequest) -> str:
    """The Action of a call in the query protocol (STS, IAM, CloudFormation: a form posted to /), else ""."""
    if req.path not in ("", "/"):
        return ""
    form = parse_qs(req.body.decode("utf-8", "replace")) if req.method == "POST" and req.body else {}
    return (form.get("Action") or req.query.get("Action") or [""])[0]


def _post_policy_fields(req: AwsRequest) -> dict[str, str]:
    """The credential fields of an S3 POST form (multipart/form-data), by their lower-cased names."""
    import email.parser
    import email.policy
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + req.headers["content-type"].encode("latin-1") + b"\r\n\r\n" + req.body)
    fields: dict[str, str] = {}
    for part in message.iter_parts() if message.is_multipart() else ():
        name = (part.get_param("name", header="content-disposition") or "").lower()
        if name in ("x-amz-credential", "awsaccesskeyid", "x-amz-security-token"):
            content = part.get_content()
            fields[name] = (content if isinstance(content, str) else content.decode("utf-8", "replace")).strip()
    return fields
