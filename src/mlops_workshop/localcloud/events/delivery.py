"""EventBridge delivery: an event that matches an enabled rule goes to each of its targets, as EventBridge sends it.

moto matches events against rules but delivers only to CloudWatch Logs, SQS, archives and other buses, raises for
any other target, and ignores a rule's state. Here: enabled rules only, the target's Input / InputPath /
InputTransformer applied, and targets whose service the local cloud runs (Lambda, Step Functions) handed to that
service's `receive_event`; a CodePipeline target starts its pipeline as EventBridge does, with StartPipelineExecution
signed by the target's role (assumed as events.amazonaws.com for this rule); the targets moto knows are left to moto.
"""

from __future__ import annotations

import copy
import json
import logging
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .service import EventsService

log = logging.getLogger("mlops_workshop.localcloud.events")

# The service part of a target's ARN -> the local cloud's service that receives its events.
TARGET_SERVICES = {"lambda": "lambda", "states": "stepfunctions", "codepipeline": "codepipeline"}


def event_time(value: Any) -> str:
    """EventBridge's `time` field: ISO 8601 in UTC to the second (moto keeps epoch seconds)."""
    if isinstance(value, (int, float)):
        value = datetime.fromtimestamp(value, timezone.utc)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


def target_input(target: dict[str, Any], event: dict[str, Any]) -> Any:
    """What the target receives: the event, or what its Input, InputPath or InputTransformer makes of it."""
    if target.get("Input") is not None:
        return json.loads(target["Input"])
    if target.get("InputPath"):
        from jsonpath_ng.ext import parse
        found = parse(target["InputPath"]).find(event)
        return found[0].value if found else None
    if target.get("InputTransformer"):
        from moto.events.utils import EventTemplateParser
        transformer = target["InputTransformer"]
        return EventTemplateParser.parse(input_template=transformer.get("InputTemplate"),
                                         input_paths_map=transformer.get("InputPathsMap", {}),
                                         event={**event, "ingestion-time": time.time()})
    return {k: v for k, v in event.items() if k != "ingestion-time"}


def target_service(arn: str) -> str | None:
    parts = arn.split(":")
    return TARGET_SERVICES.get(parts[2]) if len(parts) >= 6 else None


class EventDelivery:
    """Sends one event to the targets of one rule."""

    def __init__(self, service: "EventsService", moto_send: Callable[..., None]):
        self.service = service
        self.moto_send = moto_send

    def on_event(self, rule: Any, event: dict[str, Any], transform_input: bool = True) -> None:
        """An event put on the rule's bus: delivered when the rule is enabled and its pattern matches."""
        if rule.state != "ENABLED" or not rule.event_pattern.get_pattern():
            return  # a rule with only a schedule matches no event
        shown = {**event, "time": event_time(event.get("time", time.time()))}
        if rule.event_pattern.matches_event(shown):
            self.deliver(rule, shown, transform_input, moto_event=event)

    def deliver(self, rule: Any, event: dict[str, Any], transform_input: bool = True,
                moto_event: dict[str, Any] | None = None) -> None:
        """Send to every target; moto_event is the event as moto's own delivery expects it (epoch time)."""
        ours, moto_targets = [], []
        for target in rule.targets:
            receiver = target_service(target["Arn"])
            (ours if receiver else moto_targets).append((receiver, target))
        if moto_targets:
            known = copy.copy(rule)
            known.targets = [target for _, target in moto_targets]
            try:
                self.moto_send(known, moto_event or {**event, "time": time.time(), "ingestion-time": time.time()},
                               transform_input)
            except NotImplementedError:
                log.warning("rule %s has a target kind the local cloud does not deliver to: %s", rule.name,
                            ", ".join(t["Arn"] for _, t in moto_targets))
        for receiver, target in ours:
            try:
                if receiver == "codepipeline":
                    self.start_pipeline(rule, target)
                    continue
                payload = target_input(target, event) if transform_input else event
                self.service.cloud.service(receiver).receive_event(target, payload)
            except Exception:
                log.exception("rule %s could not deliver an event to %s", rule.name, target["Arn"])

    def start_pipeline(self, rule: Any, target: dict[str, Any]) -> None:
        """StartPipelineExecution of the target's pipeline with the target's role; a refusal (the role cannot be
        assumed, or does not allow the call) fails the invocation, as EventBridge counts a FailedInvocation."""
        from botocore.exceptions import ClientError

        from ..iam.exceptions import AssumeRoleRefused
        cloud = self.service.cloud
        region, name = target["Arn"].split(":")[3], target["Arn"].split(":", 5)[5]
        if not target.get("RoleArn"):
            log.warning("rule %s: the CodePipeline target %s has no RoleArn, so EventBridge cannot start it",
                        rule.name, target["Arn"])
            return
        try:
            credentials = cloud.service("iam").credentials_for(
                target["RoleArn"], "events.amazonaws.com", source_arn=rule.arn, source_account=rule.account_id)
        except AssumeRoleRefused as refused:
            log.warning("rule %s could not start pipeline %s: %s", rule.name, name, refused.message)
            return
        self.service.opened_session(credentials["AWS_ACCESS_KEY_ID"], rule.arn)
        try:
            started = cloud.client("codepipeline", region, credentials=credentials).start_pipeline_execution(
                name=name)
        except ClientError as error:
            log.warning("rule %s could not start pipeline %s: %s", rule.name, name, error)
            return
        log.info("rule %s started pipeline %s: execution %s", rule.name, name, started["pipelineExecutionId"])
