"""What a call is to IAM: the actions it needs, each on its resources, with the condition keys AWS puts in its context.

The actions and the resource ARNs come from the Service Authorization Reference (catalog.py): each resource type the
action lists is built from its ARN format, `${Partition}`, `${Region}` and `${Account}` from the call, the other
placeholders from the request's parameters, by name (`${TrainingJobName}` from TrainingJobName, `${RepositoryName}`
from repositoryName), or from a parameter that is already an ARN of that type (stateMachineArn, ResourceArn).
`ALIASES` names the parameters where the API and the ARN format name a part differently (S3's Bucket and Key).
The types an action lists are often alternatives (an S3 object or an access point's object): the ones the request
names fully are judged; else the required ones, their unknown parts as `UNKNOWN_PART`; else an optional one the
request names in part (a stack by its name, before it has an id); an action with none of these is judged on `*`.

`Context` answers the condition keys: the global keys the local cloud knows (the principal's, the time, the region,
the source of a service's call), the action's own keys from the request's parameters of the same name, the tags the
request carries. A key AWS would know but the local cloud cannot tell (aws:ResourceTag/..., a key the action lists
and the request does not spell out) is UNKNOWN, so the evaluator never guesses.
"""

from __future__ import annotations

import datetime
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote
from xml.etree import ElementTree

from .catalog import ALWAYS_ALLOWED, S3_VERSIONED, Action, Catalog, ResourceType
from .conditions import UNKNOWN
from .operations import Operation
from .policy import UNKNOWN_PART, Principal

# (IAM prefix, ARN placeholder) -> the request parameters that hold it, where the names differ.
ALIASES: dict[tuple[str, str], tuple[str, ...]] = {
    ("s3", "BucketName"): ("Bucket",),
    ("s3", "ObjectName"): ("Key",),
    ("iam", "RoleNameWithPath"): ("RoleName",),
    ("iam", "UserNameWithPath"): ("UserName",),
    ("iam", "GroupNameWithPath"): ("GroupName",),
    ("iam", "PolicyNameWithPath"): ("PolicyName",),
    ("iam", "InstanceProfileNameWithPath"): ("InstanceProfileName",),
    ("ssm", "ParameterNameWithoutLeadingSlash"): ("Name",),
    ("codebuild", "BuildId"): ("ids", "id"),
    ("codepipeline", "PipelineName"): ("name", "pipelineName"),
    ("events", "RuleName"): ("Name", "Rule"),
    ("logs", "LogGroupName"): ("logGroupName", "logGroupIdentifier"),
}
# Global condition keys (IAM User Guide, "AWS global condition context keys") that are absent from every local call:
# no organization, no VPC endpoint, no federation.
ABSENT_GLOBAL = {"aws:principalorgid", "aws:principalorgpaths", "aws:resourceorgid", "aws:resourceorgpaths",
                 "aws:sourceorgid", "aws:sourceorgpaths", "aws:sourcevpc", "aws:sourcevpce", "aws:vpcsourceip",
                 "aws:federatedprovider", "aws:sourceidentity", "aws:ec2instancesourcevpc",
                 "aws:ec2instancesourceprivateipv4"}
# Services that take a role ARN in these operations pass it (iam:PassRole); reads and deletes do not.
_NOT_PASSING = re.compile(r"^(Get|List|Describe|Delete|Batch|Tag|Untag|Search|Stop|Validate)")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):role/(.+)$")
_ROLE_KEY = re.compile(r"role(arn)?$", re.IGNORECASE)


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


@dataclass
class Need:
    """One authorization a call needs: `action` on `resource`."""

    action: str
    resource: str
    unknown: tuple[str, ...] = ()          # the ARN's placeholders the request did not tell
    keys: dict[str, Any] = field(default_factory=dict)   # condition keys of this need (iam:PassedToService)
    catalog_action: Action | None = None
    pass_role_to: str | None = None        # for iam:PassRole: the service the role is passed to


@dataclass
class Call:
    operation: Operation | None
    needs: list[Need]
    unresolved: str = ""                   # why the local cloud cannot say what the call needs


class Describer:
    """Builds the needs of a call; `lookup(kind, name, region)` answers what the request cannot (a stack's id, a
    role's path)."""

    def __init__(self, catalog: Catalog, account: str, lookup: Callable[[str, str, str], str | None]):
        self.catalog = catalog
        self.account = account
        self.lookup = lookup
        self._templates: dict[str, re.Pattern[str]] = {}

    def describe(self, op: Operation | None, region: str, headers: Mapping[str, str], body: bytes = b"") -> Call:
        if op is None:
            return Call(None, [], "the local cloud does not know this operation")
        if (op.prefix, op.name) in ALWAYS_ALLOWED:
            return Call(op, [])
        actions = self.catalog.actions_for(op.prefix, op.name)
        if actions is None:
            return Call(op, [], f"the Service Authorization Reference has no action for {op.prefix}:{op.name}")
        params = op.params
        needs: list[Need] = []
        for action in actions:
            if op.prefix == "s3" and params.get("VersionId") and action.name in S3_VERSIONED:
                action = self.catalog.action(f"s3:{S3_VERSIONED[action.name]}") or action
            if op.prefix == "s3" and op.name == "DeleteObjects":
                for key in _deleted_keys(body):
                    needs += self.needs_of(action, dict(params, Key=key), region, op)
                continue
            needs += self.needs_of(action, params, region, op)
        if op.prefix == "s3":
            needs += self._s3_extras(op, region, headers)
        if op.prefix == "sagemaker" and _tags(params):
            needs += self._tags_on_create(op, needs)
        if op.prefix not in ("iam", "sts") and not _NOT_PASSING.match(op.name):
            needs += self._passed_roles(op)
        return Call(op, needs)

    # Resources.
    def needs_of(self, action: Action, params: Mapping[str, Any], region: str, op: Operation | None) -> list[Need]:
        service = self.catalog.service(action.prefix)
        assert service is not None
        built: list[tuple[str, tuple[str, ...]]] = []
        partial: list[tuple[str, tuple[str, ...]]] = []
        named: list[tuple[str, tuple[str, ...]]] = []
        for type_name, required in action.resource_types:
            resource_type = service.resources.get(type_name)
            if resource_type is None:
                continue
            for arn, unknown, filled in self._arns(resource_type, params, region, action.prefix, required):
                if not unknown:
                    built.append((arn, unknown))
                elif required:
                    partial.append((arn, unknown))
                elif filled:
                    named.append((arn, unknown))
        # The resource types an action lists are often alternatives (S3's object or access point object, Step
        # Functions' execution or express execution): the ones the request names fully are what it is about; else
        # the required ones, with their unknown parts; else an optional one the request names in part (a stack by
        # its name, before it has an id); else `*`.
        built = built or partial or named
        if not built:
            built = [("*", ())]
        seen: set[str] = set()
        needs = []
        for arn, unknown in built:
            if arn not in seen:
                seen.add(arn)
                needs.append(Need(action.full_name, arn, unknown, catalog_action=action))
        return needs

    def _template(self, resource_type: ResourceType) -> re.Pattern[str]:
        found = self._templates.get(resource_type.arn)
        if found is None:
            regex, position = "", 0
            for match in re.finditer(r"\$\{([^}]+)\}", resource_type.arn):
                regex += re.escape(resource_type.arn[position:match.start()])
                regex += "[^:]*" if match.group(1) in ("Partition", "Region", "Account") else ".+"
                position = match.end()
            found = re.compile("^" + regex + re.escape(resource_type.arn[position:]) + "$")
            self._templates[resource_type.arn] = found
        return found

    def _arns(self, resource_type: ResourceType, params: Mapping[str, Any], region: str, prefix: str,
              required: bool) -> Iterator[tuple[str, tuple[str, ...], int]]:
        template = self._template(resource_type)
        for value in params.values():
            for item in (value if isinstance(value, list) else [value]):
                if isinstance(item, str) and item.startswith("arn:") and template.match(item):
                    yield item, (), 1
                    return
        values: dict[str, list[str]] = {}
        unknown: list[str] = []
        filled = 0
        for placeholder in resource_type.placeholders:
            if placeholder == "Partition":
                values[placeholder] = ["aws"]
            elif placeholder == "Region":
                values[placeholder] = [region]
            elif placeholder == "Account":
                values[placeholder] = [self.account]
            else:
                found = self._placeholder(prefix, placeholder, params, region, required)
                if found is not None and any(UNKNOWN_PART in f for f in found):
                    unknown.append(placeholder)
                    values[placeholder] = found
                elif found is None:
                    unknown.append(placeholder)
                    values[placeholder] = [UNKNOWN_PART]
                else:
                    values[placeholder] = found
                if found is not None and not all(f == UNKNOWN_PART for f in found):
                    filled += 1
        arns = [resource_type.arn]
        for placeholder, options in values.items():
            arns = [arn.replace("${" + placeholder + "}", option) for arn in arns for option in options]
        for arn in arns:
            yield arn, tuple(unknown), filled

    def _placeholder(self, prefix: str, placeholder: str, params: Mapping[str, Any], region: str,
                     required: bool) -> list[str] | None:
        special = self._special(prefix, placeholder, params, region)
        if special is not None:
            return special
        names = ALIASES.get((prefix, placeholder), ()) + (placeholder,)
        wanted = {_norm(n) for n in names} | {_norm(n) + "s" for n in names}   # repositoryNames: one each
        found = next((v for k, v in params.items() if _norm(k) in wanted and v not in (None, "", [])), None)
        if found is None and required and placeholder.endswith("Name"):
            found = next((v for k, v in params.items() if k in ("Name", "name") and v), None)
        if found is None:
            return None
        items = found if isinstance(found, list) else [found]
        strings = [str(i) for i in items if isinstance(i, (str, int))]
        if not strings:
            return None
        if prefix == "sagemaker":  # SageMaker writes the names in its ARNs lower case
            strings = [s.lower() for s in strings]
        if prefix == "ssm":
            strings = [s.lstrip("/") for s in strings]
        return strings

    def _special(self, prefix: str, placeholder: str, params: Mapping[str, Any], region: str) -> list[str] | None:
        """The parts that need more than a parameter's value: documented per service."""
        if prefix == "lambda" and placeholder == "FunctionName" and params.get("FunctionName"):
            # A name, a partial ARN (123456789012:function:name) or an ARN, with an optional qualifier.
            name = str(params["FunctionName"])
            if ":function:" in name:
                name = name.split(":function:", 1)[1]
            qualifier = params.get("Qualifier")
            return [f"{name}:{qualifier}" if qualifier and ":" not in name else name]
        if prefix == "cloudformation" and placeholder in ("StackName", "Id") and params.get("StackName"):
            stack = str(params["StackName"])
            if stack.startswith("arn:"):
                parts = stack.split(":stack/", 1)[-1].split("/")
                return [parts[0] if placeholder == "StackName" else "/".join(parts[1:]) or UNKNOWN_PART]
            if placeholder == "StackName":
                return [stack]
            stack_id = self.lookup("cloudformation-stack", stack, region)
            return [stack_id.split(":stack/", 1)[-1].split("/", 1)[1]] if stack_id else None
        if prefix == "iam" and placeholder == "RoleNameWithPath" and params.get("RoleName"):
            path = params.get("Path") or self.lookup("iam-role-path", str(params["RoleName"]), region) or "/"
            return [f"{path.strip('/') + '/' if path.strip('/') else ''}{params['RoleName']}"]
        if prefix == "codebuild" and placeholder == "ProjectName" and (params.get("ids") or params.get("id")):
            ids = params.get("ids") or [params.get("id")]
            return sorted({str(i).split(":", 1)[0] for i in ids if i})   # a build's id is <project>:<uuid>
        if prefix == "codepipeline" and placeholder == "PipelineName" and isinstance(params.get("pipeline"), dict):
            return [str(params["pipeline"].get("name"))] if params["pipeline"].get("name") else None
        if prefix == "iam" and placeholder == "RoleNameWithPath" and params.get("AWSServiceName"):
            # AWS names a service-linked role itself: the path is known, the name is not.
            return [f"aws-service-role/{params['AWSServiceName']}/{UNKNOWN_PART}"]
        if prefix == "codecommit" and placeholder == "RepositoryName" and params.get("repo"):
            return [str(params["repo"])]
        return None

    # The actions some calls need beyond their own.
    def _s3_extras(self, op: Operation, region: str, headers: Mapping[str, str]) -> list[Need]:
        needs: list[Need] = []
        source = headers.get("x-amz-copy-source")
        if source and op.name in ("CopyObject", "UploadPartCopy"):
            path, _, query = unquote(source).lstrip("/").partition("?")
            bucket, _, key = path.partition("/")
            version = re.search(r"versionId=([^&]+)", query)
            action = self.catalog.action("s3:GetObjectVersion" if version else "s3:GetObject")
            if action is not None:
                needs += self.needs_of(action, {"Bucket": bucket, "Key": key}, region, op)
        if op.name in ("PutObject", "CopyObject", "CreateMultipartUpload"):
            if "x-amz-acl" in headers or any(h.startswith("x-amz-grant-") for h in headers):
                action = self.catalog.action("s3:PutObjectAcl")
                if action is not None:
                    needs += self.needs_of(action, op.params, region, op)
            if "x-amz-tagging" in headers:
                action = self.catalog.action("s3:PutObjectTagging")
                if action is not None:
                    needs += self.needs_of(action, op.params, region, op)
        return needs

    def _tags_on_create(self, op: Operation, needs: list[Need]) -> list[Need]:
        """SageMaker's Create calls that carry Tags also need sagemaker:AddTags on what they create (the SageMaker
        Developer Guide, "Permissions to tag on create"; AddTags is a dependent action of those Create actions)."""
        action = self.catalog.action("sagemaker:AddTags")
        if action is None or not op.name.startswith("Create"):
            return []
        # EndpointConfig: endpoint-config, the resource type in the ARN
        kind = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", op.name[len("Create"):]).lower()
        return [Need(action.full_name, n.resource, n.unknown, catalog_action=action) for n in needs
                if n.catalog_action and action.full_name in n.catalog_action.dependent_actions
                and f":{kind}/" in n.resource]

    def _passed_roles(self, op: Operation) -> list[Need]:
        action = self.catalog.action("iam:PassRole")
        if action is None:
            return []
        roles: list[str] = []
        for key, value in _walk(op.params):
            if not isinstance(value, str) or not _ROLE_KEY.search(key):
                continue
            if _ROLE_ARN.match(value):
                roles.append(value)
            elif op.prefix == "glue" and key == "Role" and value and "/" not in value:
                roles.append(f"arn:aws:iam::{self.account}:role/{value}")   # Glue takes a role's name too
        service = f"{op.prefix}.amazonaws.com"
        return [Need(action.full_name, role, (), {"iam:passedtoservice": service}, action, service)
                for role in dict.fromkeys(roles)]


def _walk(value: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping):
        for k, v in value.items():
            yield from _walk(v, str(k))
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item, key)
    else:
        yield key, value


def _deleted_keys(body: bytes) -> list[str]:
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return []
    return [el.text or "" for el in root.iter() if el.tag.rsplit("}", 1)[-1] == "Key"]


def _tags(params: Mapping[str, Any]) -> dict[str, str] | None:
    for name in ("Tags", "tags", "TagList"):
        value = params.get(name)
        if isinstance(value, Mapping):
            return {str(k): str(v) for k, v in value.items()}
        if isinstance(value, list):
            found = {}
            for item in value:
                if isinstance(item, Mapping):
                    key = item.get("Key", item.get("key"))
                    if key is not None:
                        found[str(key)] = str(item.get("Value", item.get("value", "")))
            return found
    return None


class Context(Mapping[str, Any]):
    """The request context of one need, read lazily by the conditions that ask (keys lower case)."""

    def __init__(self, principal: Principal, need: Need, op: Operation | None, region: str,
                 headers: Mapping[str, str], extra: Mapping[str, Any] | None = None, issued: float | None = None):
        self.principal = principal
        self.need = need
        self.op = op
        self.region = region
        self.headers = headers
        self.extra = {k.lower(): v for k, v in (extra or {}).items()}
        self.issued = issued
        self._cache: dict[str, Any] = {}

    def __getitem__(self, key: str) -> Any:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(self._cache)

    def __len__(self) -> int:
        return len(self._cache)

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        key = key.lower()
        if key not in self._cache:
            self._cache[key] = self._value(key)
        value = self._cache[key]
        return default if value is None else value

    def _value(self, key: str) -> Any:
        if key in self.need.keys:
            return self.need.keys[key]
        if key in self.extra:
            return self.extra[key]
        p = self.principal
        if key.startswith("aws:"):
            return self._global(key, p)
        return self._service(key)

    def _global(self, key: str, p: Principal) -> Any:
        service = p.kind == "service"
        now = time.time()
        simple: dict[str, Any] = {
            "aws:currenttime": datetime.datetime.fromtimestamp(now, datetime.timezone.utc).strftime(
                "%Y-%m-%dT%H:%M:%SZ"),
            "aws:epochtime": str(int(now)),
            "aws:requestedregion": self.region,
            # The local endpoint stands for AWS's HTTPS endpoints: a call judged here is judged as made over TLS.
            "aws:securetransport": "true",
            "aws:sourceip": "127.0.0.1",
            "aws:principalisawsservice": "true" if service else "false",
            "aws:viaawsservice": "false",
            "aws:resourceaccount": p.account,
        }
        if key in simple:
            return simple[key]
        if key in ABSENT_GLOBAL or key in ("aws:sourcearn", "aws:sourceaccount", "aws:calledvia",
                                           "aws:calledviafirst", "aws:calledvialast", "aws:sourceowner"):
            return None     # present only when the caller says so (extra), as for a service's call
        if key == "aws:useragent":
            return self.headers.get("user-agent")
        if key == "aws:referer":
            return self.headers.get("referer")
        if service:
            if key in ("aws:principalservicename",):
                return p.service
            if key == "aws:principalservicenameslist":
                return [p.service]
            return None if key in ("aws:principalarn", "aws:principalaccount", "aws:principaltype", "aws:userid",
                                   "aws:username", "aws:multifactorauthpresent", "aws:multifactorauthage",
                                   "aws:tokenissuetime") or key.startswith("aws:principaltag/") else UNKNOWN
        if key == "aws:principalservicename" or key == "aws:principalservicenameslist":
            return None
        if key == "aws:principalarn":
            return p.role_arn or p.arn
        if key == "aws:principalaccount":
            return p.account
        if key == "aws:principaltype":
            return {"role-session": "AssumedRole", "user": "User", "administrator": "User"}.get(p.kind)
        if key == "aws:userid":
            return p.user_id
        if key == "aws:username":
            return p.name if p.kind == "user" else None
        if key == "aws:multifactorauthpresent":
            return "false" if p.kind == "role-session" else None
        if key == "aws:multifactorauthage":
            return None
        if key == "aws:tokenissuetime":
            if p.kind != "role-session":
                return None
            if self.issued is None:
                return UNKNOWN
            return datetime.datetime.fromtimestamp(self.issued, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        if key.startswith("aws:principaltag/"):
            return p.tags.get(key.split("/", 1)[1]) if p.tags else None
        if key.startswith("aws:requesttag/") or key == "aws:tagkeys":
            return self._request_tags(key)
        return UNKNOWN   # aws:ResourceTag/... and any global key the local cloud does not compute

    def _request_tags(self, key: str) -> Any:
        tags = _tags(self.op.params) if self.op else None
        if tags is None:
            return None
        if key == "aws:tagkeys":
            return list(tags) or None
        wanted = key.split("/", 1)[1]
        return next((v for k, v in tags.items() if k.lower() == wanted), None)

    def _service(self, key: str) -> Any:
        action = self.need.catalog_action
        prefix, _, name = key.partition(":")
        if "/" in name and name.split("/", 1)[0] in ("resourcetag", "existingobjecttag", "buckettag"):
            return UNKNOWN      # the tags of an existing resource: the local cloud does not look them up
        listed = {k.lower() for k in (action.condition_keys if action else ())}
        if action is not None:
            service = Catalog.shared().service(action.prefix)
            for type_name, _ in action.resource_types:
                resource_type = service.resources.get(type_name) if service else None
                if resource_type:
                    listed |= {k.lower() for k in resource_type.condition_keys}
        if key not in listed:
            return None     # a key this action does not put in its context (AWS leaves it out too)
        if prefix == "s3" and name in S3_KEYS:
            return S3_KEYS[name](self)
        params = self.op.params if self.op else {}
        wanted = _norm(name)
        for param, value in params.items():
            if _norm(param) == wanted:
                return value
        if self.op is not None and wanted in self.op.members:
            return None     # a member of the request that the caller left out
        return UNKNOWN      # AWS fills it from something the local cloud does not compute


S3_KEYS: dict[str, Callable[[Context], Any]] = {
    "authtype": lambda c: "REST-HEADER",
    "signatureversion": lambda c: "AWS4-HMAC-SHA256",
    "resourceaccount": lambda c: c.principal.account,
    "tlsversion": lambda c: "1.2",     # as aws:SecureTransport: judged as AWS's HTTPS endpoint would be
    "signatureage": lambda c: UNKNOWN,
    "accessgrantsinstancearn": lambda c: None,
    "x-amz-content-sha256": lambda c: c.headers.get("x-amz-content-sha256"),
    "prefix": lambda c: (c.op.params if c.op else {}).get("Prefix"),
    "delimiter": lambda c: (c.op.params if c.op else {}).get("Delimiter"),
    "max-keys": lambda c: (c.op.params if c.op else {}).get("MaxKeys"),
    "versionid": lambda c: (c.op.params if c.op else {}).get("VersionId"),
}
