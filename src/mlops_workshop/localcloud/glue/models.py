"""Glue's records on the local cloud: a job run whose state is its process's, and UpdateJob's rewrite of a job."""

from __future__ import annotations

from typing import Any

from moto.core.utils import utcnow
from moto.glue.models import FakeJobRun

DEFAULT_TIMEOUT_MINUTES = 2880
PYTHON_SHELL_LOG_GROUP = "/aws-glue/python-jobs"


class LocalJobRun(FakeJobRun):
    """moto's job run record, with the state and times of the process that runs it."""

    error_message: str | None = None
    execution_time = 0
    finished_on: Any = None

    @property  # type: ignore[override]
    def status(self) -> str | None:
        return self._status

    @status.setter
    def status(self, value: str) -> None:
        self._status = value
        self.modified_on = utcnow()

    def as_dict(self) -> dict[str, Any]:
        answer = super().as_dict()
        answer.update({"ExecutionTime": self.execution_time, "LogGroupName": PYTHON_SHELL_LOG_GROUP,
                       "GlueVersion": getattr(self, "glue_version", None) or "3.0",
                       "Timeout": self.timeout or DEFAULT_TIMEOUT_MINUTES})
        answer.pop("CompletedOn", None)
        if self.finished_on is not None:
            answer["CompletedOn"] = self.finished_on
        if self.error_message:
            answer["ErrorMessage"] = self.error_message
        return answer

    @classmethod
    def adopt(cls, run: FakeJobRun, glue_version: str | None) -> "LocalJobRun":
        local = cls.__new__(cls)
        local.__dict__.update(run.__dict__)
        local.glue_version = glue_version
        local._status = "STARTING"
        local.started_on = local.modified_on = utcnow()
        return local


# JobUpdate's fields and the attributes of moto's job that hold them, with the value a field left out gets.
JOB_UPDATE_FIELDS = {
    "Description": ("description", None), "LogUri": ("log_uri", None), "Role": ("role", None),
    "ExecutionProperty": ("execution_property", {}), "Command": ("command", None),
    "DefaultArguments": ("default_arguments", {}), "NonOverridableArguments": ("non_overridable_arguments", None),
    "Connections": ("connections", None), "MaxRetries": ("max_retries", None),
    "AllocatedCapacity": ("allocated_capacity", None), "Timeout": ("timeout", None),
    "MaxCapacity": ("max_capacity", None), "WorkerType": ("worker_type", None),
    "NumberOfWorkers": ("number_of_workers", None), "SecurityConfiguration": ("security_configuration", None),
    "NotificationProperty": ("notification_property", None), "GlueVersion": ("glue_version", None),
    "CodeGenConfigurationNodes": ("code_gen_configuration_nodes", None),
    "ExecutionClass": ("execution_class", "STANDARD"), "SourceControlDetails": ("source_control_details", None),
}


def update_job(job: Any, update: dict[str, Any]) -> None:
    """UpdateJob as Glue does it: the job's definition is overwritten by JobUpdate; its runs are kept."""
    unknown = sorted(set(update) - set(JOB_UPDATE_FIELDS))
    if unknown:
        raise ValueError(f"JobUpdate has unknown fields {', '.join(unknown)}")
    for key in ("Role", "Command"):
        if not update.get(key):
            raise ValueError(f"JobUpdate.{key} is required: the new definition replaces the whole job")
    for key, (attribute, default) in JOB_UPDATE_FIELDS.items():
        setattr(job, attribute, update.get(key, default))
    job.last_modified_on = utcnow()
