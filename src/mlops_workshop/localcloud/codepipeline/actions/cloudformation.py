"""CloudFormation deploy actions: CREATE_UPDATE, REPLACE_ON_FAILURE and DELETE_ONLY of a stack from a template in an
input artifact, its outputs the action's variables (and OutputFileName). The pipeline's role makes the calls and
must be allowed to pass the action's RoleArn to CloudFormation, which then deploys the stack as that role."""

from __future__ import annotations

import io
import json
import time
import zipfile
from typing import TYPE_CHECKING, Any

from ..exceptions import DENIED, ActionFailed
from ..models import ActionExecution, ActionResult

if TYPE_CHECKING:
    from ..engine import PipelineEngine


FAILED_STATES = {"ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "CREATE_FAILED", "DELETE_FAILED",
                 "UPDATE_ROLLBACK_FAILED", "UPDATE_FAILED"}


def cloudformation_deploy(rt: "PipelineEngine", run: ActionExecution) -> ActionResult:
    from botocore.exceptions import ClientError
    config = run.resolved_configuration
    mode, stack = config.get("ActionMode"), config.get("StackName")
    if not stack or not mode:
        raise ActionFailed("A CloudFormation action needs ActionMode and StackName", "ConfigurationError")
    region = run.action.get("region") or run.execution.region
    if config.get("RoleArn"):
        iam = rt.cloud.service("iam")
        verdict = iam.check_pass_role(rt.principal(run.execution.pipeline), config["RoleArn"],
                                      "cloudformation.amazonaws.com")
        if verdict.decision is not None and verdict.decision.policy_type == "trust policy":
            raise ActionFailed(f"Stack {stack}: {verdict.message}", "ConfigurationError")
        if not verdict.allowed:
            raise rt.refused(verdict.message)
    cfn = rt.client("cloudformation", run.execution.pipeline, region)
    rt.inputs(run)
    timeout = rt.timeout_for(run.action)
    deadline = time.monotonic() + timeout

    def describe() -> dict[str, Any] | None:
        try:
            return cfn.describe_stacks(StackName=stack)["Stacks"][0]
        except ClientError as exc:
            if "does not exist" in exc.response["Error"].get("Message", ""):
                return None
            raise

    def settle(operation: str) -> dict[str, Any] | None:
        while True:
            current = describe()
            if current is None or not current["StackStatus"].endswith("_IN_PROGRESS"):
                return current
            rt.wait_quietly(run, 0.5, deadline)
            if time.monotonic() >= deadline:
                raise ActionFailed(f"The action timed out: stack {stack} did not finish {operation} within its "
                                   f"timeout of {timeout:g} seconds", "TimeoutError")

    if mode not in ("CREATE_UPDATE", "REPLACE_ON_FAILURE", "DELETE_ONLY"):
        raise ActionFailed(f"ActionMode {mode} is not run by the local cloud: use CREATE_UPDATE, REPLACE_ON_FAILURE "
                           f"or DELETE_ONLY", "ConfigurationError")
    current = describe()
    if current and current["StackStatus"].endswith("_IN_PROGRESS"):
        current = settle("its current operation")
    if mode == "DELETE_ONLY" or (mode == "REPLACE_ON_FAILURE" and current
                                 and current["StackStatus"] in FAILED_STATES):
        if current and current["StackStatus"] != "DELETE_COMPLETE":
            cfn.delete_stack(StackName=stack, **({"RoleARN": config["RoleArn"]} if config.get("RoleArn") else {}))
            after = settle("deleting")
            if after and after["StackStatus"] != "DELETE_COMPLETE":
                raise ActionFailed(f"Stack {stack} could not be deleted: {after['StackStatus']} "
                                   f"{_stack_reason(cfn, stack)}".strip())
        if mode == "DELETE_ONLY":
            return ActionResult(summary=f"Stack {stack} deleted")
        current = None
    template = rt.artifact_file(run, config.get("TemplatePath", ""), "TemplatePath").decode()
    # CodePipeline validates the template before it deploys it.
    try:
        cfn.validate_template(TemplateBody=template)
    except ClientError as exc:
        if exc.response["Error"].get("Code") in DENIED:
            raise rt.refused(exc.response["Error"].get("Message", str(exc))) from None
        raise ActionFailed(f"Stack {stack}: {exc.response['Error'].get('Message', exc)}", "JobFailed") from None
    parameters: dict[str, str] = {}
    tags: dict[str, str] = {}
    if config.get("TemplateConfiguration"):
        raw = rt.artifact_file(run, config["TemplateConfiguration"], "TemplateConfiguration")
        try:
            document = json.loads(raw)
        except ValueError as exc:
            raise ActionFailed(f"TemplateConfiguration {config['TemplateConfiguration']} is not JSON: {exc}",
                               "ConfigurationError") from None
        parameters.update({k: str(v) for k, v in (document.get("Parameters") or {}).items()})
        tags.update({k: str(v) for k, v in (document.get("Tags") or {}).items()})
    if config.get("ParameterOverrides"):
        try:
            overrides = json.loads(config["ParameterOverrides"])
        except ValueError as exc:
            raise ActionFailed(f"ParameterOverrides is not a JSON object: {exc}", "ConfigurationError") from None
        parameters.update({k: _parameter_value(rt, run, v) for k, v in overrides.items()})
    request: dict[str, Any] = {
        "StackName": stack, "TemplateBody": template,
        "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
    }
    if config.get("Capabilities"):
        request["Capabilities"] = [c.strip() for c in config["Capabilities"].split(",") if c.strip()]
    if config.get("RoleArn"):
        request["RoleARN"] = config["RoleArn"]
    operation = "creating"
    try:
        if current is None or current["StackStatus"] == "DELETE_COMPLETE":
            cfn.create_stack(**request)
        elif current["StackStatus"] in FAILED_STATES | {"REVIEW_IN_PROGRESS"}:
            raise ActionFailed(f"Stack {stack} is in {current['StackStatus']} state and can not be updated.")
        else:
            operation = "updating"
            cfn.update_stack(**request)
    except ClientError as exc:
        message = exc.response["Error"].get("Message", str(exc))
        if exc.response["Error"].get("Code") in DENIED:
            raise rt.refused(message) from None
        if "No updates are to be performed" not in message:
            raise ActionFailed(f"Stack {stack}: {message}", "JobFailed") from None
        operation = "unchanged"
    final = settle(operation)
    status = final["StackStatus"] if final else "DELETE_COMPLETE"
    if status not in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
        raise ActionFailed(f"Stack {stack} {status}: {_stack_reason(cfn, stack)}".strip(), "JobFailed",
                           final.get("StackId") if final else None)
    outputs = {o["OutputKey"]: o["OutputValue"] for o in (final.get("Outputs") or [])}
    planned = [rt.new_artifact(run, item["name"]) for item in run.action.get("outputArtifacts") or []]
    if planned:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            if config.get("OutputFileName"):
                archive.writestr(config["OutputFileName"], json.dumps(outputs, indent=2))
        for artifact in planned:
            rt.put_artifact(run, artifact, buffer.getvalue())
    summary = f"Stack {stack} {'is unchanged' if operation == 'unchanged' else status}"
    return ActionResult(summary=summary, external_id=final.get("StackId"), variables=outputs)


def _parameter_value(rt: "PipelineEngine", run: ActionExecution, value: Any) -> str:
    """A ParameterOverrides value: a string, Fn::GetParam or Fn::GetArtifactAtt."""
    if isinstance(value, dict) and "Fn::GetParam" in value:
        name, path, key = value["Fn::GetParam"]
        document = json.loads(rt.artifact_file(run, f"{name}::{path}", "Fn::GetParam"))
        return str(document[key])
    if isinstance(value, dict) and "Fn::GetArtifactAtt" in value:
        name, attribute = value["Fn::GetArtifactAtt"]
        artifact = run.execution.artifacts.get(name)
        if artifact is None:
            raise ActionFailed(f"Fn::GetArtifactAtt names unknown artifact {name}", "ConfigurationError")
        return {"BucketName": artifact.bucket, "ObjectKey": artifact.key,
                "URL": f"{rt.cloud.endpoint_url}/{artifact.bucket}/{artifact.key}"}[attribute]
    return str(value)


def _stack_reason(cfn: Any, stack: str) -> str:
    """The first failure of the stack's latest operation, in the failed resource's own words."""
    try:
        events = cfn.describe_stack_events(StackName=stack)["StackEvents"]
    except Exception:
        return ""
    failures = []
    for event in events:  # newest first, back to the start of the latest operation
        if event.get("ResourceType") == "AWS::CloudFormation::Stack":
            if event.get("ResourceStatusReason") == "User Initiated":
                break
            continue
        if event.get("ResourceStatus", "").endswith("_FAILED") and event.get("ResourceStatusReason"):
            failures.append(event)
    if failures:
        first = failures[-1]
        return f"{first['LogicalResourceId']} ({first['ResourceType']}): {first['ResourceStatusReason']}"
    reasons = [e["ResourceStatusReason"] for e in events if e.get("ResourceStatusReason")]
    return reasons[0] if reasons else ""
