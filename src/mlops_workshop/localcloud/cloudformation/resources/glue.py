"""AWS::Glue::Job through Glue's CreateJob, UpdateJob and DeleteJob (moto's CloudFormation has no Glue types). The
properties are CreateJob's own names; Ref is the job's name; a new Name replaces the job. JobMode,
JobRunQueuingEnabled and MaintenanceWindow are not passed on: moto's Glue keeps none of them."""

from __future__ import annotations

from typing import Any

from .base import LocalResource

# The properties that are numbers in CreateJob, and how each is cast (a parameter's value arrives as a string).
NUMBERS = {"AllocatedCapacity": int, "MaxCapacity": float, "MaxRetries": int, "NumberOfWorkers": int, "Timeout": int}
JOB_PROPERTIES = ("Description", "LogUri", "Role", "ExecutionProperty", "Command", "DefaultArguments",
                  "NonOverridableArguments", "Connections", "GlueVersion", "WorkerType", "SecurityConfiguration",
                  "NotificationProperty", "ExecutionClass", *NUMBERS)


class GlueJob(LocalResource):
    type_name = "AWS::Glue::Job"
    name_property = "Name"

    def _job(self) -> dict[str, Any]:
        p = self.properties
        job = {key: p[key] for key in JOB_PROPERTIES if p.get(key) is not None}
        for key, cast in NUMBERS.items():
            if key in job:
                job[key] = cast(job[key])
        for key, field in (("ExecutionProperty", "MaxConcurrentRuns"), ("NotificationProperty", "NotifyDelayAfter")):
            if field in job.get(key, {}):
                job[key] = {**job[key], field: int(job[key][field])}
        return job

    def create(self) -> None:
        self.name = self.name[:255]
        tags = {"Tags": dict(self.properties["Tags"])} if self.properties.get("Tags") else {}
        self.client("glue").create_job(Name=self.name, **self._job(), **tags)
        self.physical_id = self.name

    def update(self, new_name: str, properties: dict[str, Any]) -> Any:
        if new_name[:255] != self.name:
            return super().update(new_name, properties)
        self.properties = properties
        self.client("glue").update_job(JobName=self.name, JobUpdate=self._job())
        return self

    def remove(self) -> None:
        self.client("glue").delete_job(JobName=self.name)
