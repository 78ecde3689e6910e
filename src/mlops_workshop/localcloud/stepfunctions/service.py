"""Step Functions: moto's ASL interpreter runs executions; their tasks call the local cloud's services as the state
machine's role.

The cloud turns the interpreter on; every boto3 client the interpreter makes for a task (Lambda, SageMaker, Glue,
Step Functions, S3 for a Map's items...) is the cloud's own client with temporary credentials of the role the task
runs as: the state machine's role, assumed by states.amazonaws.com with the machine as aws:SourceArn, or the role of
the task's `Credentials` field, assumed by that role. So IAM judges every call a task makes as it judges the role's
calls in an account, and a call the role may not make fails the task with the service's AccessDenied, which a Catch
can route (integrations.py names the errors as Step Functions does).
"""

from __future__ import annotations

import datetime
import json
import random
import string
import threading
import time
import uuid
from typing import Any

from botocore.exceptions import ClientError

from ..services import Service
from . import patches
from .integrations import TaskRoleRefused

# Credentials are minted again this long before they expire.
RENEW_SECONDS = 300


class StepFunctionsService(Service):
    name = "stepfunctions"

    def start(self) -> None:
        self._credentials: dict[tuple[str, str, str], tuple[dict[str, str] | None, float]] = {}
        self._credentials_lock = threading.Lock()
        patches.apply(self)

    def recover(self) -> None:
        """Executions the local cloud was running when it stopped end FAILED, saying so (their history stays)."""
        from moto.stepfunctions.parser.api import ExecutionStatus
        from moto.stepfunctions.parser.models import stepfunctions_parser_backends

        now = datetime.datetime.now(datetime.timezone.utc)
        for regions in list(stepfunctions_parser_backends.values()):
            for backend in list(regions.values()):
                for machine in list(backend.state_machines):
                    for execution in list(getattr(machine, "executions", [])):
                        if execution.exec_status == ExecutionStatus.RUNNING:
                            execution.exec_status = ExecutionStatus.FAILED
                            execution.error = "States.Runtime"
                            execution.cause = "The local cloud stopped while the execution ran; start it again"
                            execution.stop_date = now
                            execution.exec_worker = None

    def receive_event(self, target: dict[str, Any], payload: Any) -> None:
        """An EventBridge rule's target: a new execution of the state machine with the event as its input."""
        from moto.stepfunctions.responses import get_backend
        arn = target["Arn"]
        get_backend(arn.split(":")[4], arn.split(":")[3]).start_execution(
            state_machine_arn=arn, name=str(uuid.uuid4()), execution_input=json.dumps(payload))

    def task_client(self, service: str, region: str, role_arn: str | None, state_machine_arn: str = "",
                    execution_role_arn: str = "") -> Any:
        """A client for a task's calls: as `role_arn` (the machine's `execution_role_arn` when the task names
        another one), no retries (a task's call happens once; its Retry field retries), Lambda's longest run."""
        credentials = self.task_credentials(role_arn, state_machine_arn, execution_role_arn)
        return self.cloud.client(service, region, read_timeout=960, credentials=credentials, max_attempts=1)

    def task_credentials(self, role_arn: str | None, state_machine_arn: str = "",
                         execution_role_arn: str = "") -> dict[str, str] | None:
        """Temporary credentials of the role a task runs as, kept until shortly before they expire; None (the
        administrator) only when IAM is off and the role does not exist. TaskRoleRefused when it cannot be
        assumed."""
        machine_role = execution_role_arn or role_arn or ""
        key = (role_arn or "", machine_role, state_machine_arn)
        with self._credentials_lock:
            kept = self._credentials.get(key)
            if kept is not None and kept[1] > time.time():
                return kept[0]
        credentials = self._machine_credentials(machine_role, state_machine_arn)
        if role_arn and role_arn != machine_role:
            credentials = self._task_role_credentials(credentials, role_arn)
        expires = time.time() + 3600 - RENEW_SECONDS
        if credentials and credentials.get("Expiration"):
            expiration = datetime.datetime.strptime(credentials["Expiration"], "%Y-%m-%dT%H:%M:%SZ")
            expires = expiration.replace(tzinfo=datetime.timezone.utc).timestamp() - RENEW_SECONDS
        with self._credentials_lock:
            self._credentials[key] = (credentials, expires)
        return credentials

    def _machine_credentials(self, role_arn: str, state_machine_arn: str) -> dict[str, str] | None:
        from ..iam.exceptions import AssumeRoleRefused
        iam = self.cloud.service("iam")
        try:
            return iam.credentials_for(role_arn, "states.amazonaws.com", session_name=_session_name(),
                                       source_arn=state_machine_arn or None, source_account=iam.account)
        except AssumeRoleRefused as refused:
            if not iam.enforcing:
                return None
            raise TaskRoleRefused(f"Step Functions could not assume the role {role_arn} of the state machine: "
                                  f"{refused.message}") from None

    def _task_role_credentials(self, machine: dict[str, str] | None, role_arn: str) -> dict[str, str] | None:
        """The `Credentials` field of a Task: the machine's role assumes the task's role, as in an account."""
        sts = self.cloud.client("sts", credentials=machine, max_attempts=1)
        try:
            found = sts.assume_role(RoleArn=role_arn, RoleSessionName=_session_name())["Credentials"]
        except ClientError as error:
            raise TaskRoleRefused(f"Step Functions could not assume the task's role {role_arn}: "
                                  f"{error.response['Error'].get('Message', error)}") from None
        return {"AWS_ACCESS_KEY_ID": found["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": found["SecretAccessKey"],
                "AWS_SESSION_TOKEN": found["SessionToken"],
                "Expiration": found["Expiration"].astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}


def _session_name() -> str:
    """A session name as Step Functions gives its role sessions: 32 random letters."""
    return "".join(random.choices(string.ascii_letters, k=32))
