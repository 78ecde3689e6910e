"""The transforms CloudFormation hosts, run where CloudFormation runs them: on the template of a CreateStack,
UpdateStack or CreateChangeSet, before the stack sees it. AWS::Serverless-2016-10-31 goes through AWS's own
translator (aws-sam-translator, which the AWS::Serverless transform runs), AWS::LanguageExtensions through
language_extensions.py; the stack keeps both the original template and the processed one (GetTemplate's
TemplateStage)."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

from moto.cloudformation.exceptions import ValidationError

from . import language_extensions
from .exceptions import InsufficientCapabilities

SERVERLESS = "AWS::Serverless-2016-10-31"
HOSTED = (SERVERLESS, language_extensions.NAME)


@dataclass
class StackContext:
    """What a transform may resolve: the stack's name and id, where it is, and its parameters."""

    stack_name: str
    stack_id: str
    region: str
    account: str
    parameters: dict[str, str]

    def pseudo(self) -> dict[str, str]:
        partition = "aws-cn" if self.region.startswith("cn-") else "aws-us-gov" if "-gov-" in self.region else "aws"
        return {"AWS::StackName": self.stack_name, "AWS::StackId": self.stack_id, "AWS::Region": self.region,
                "AWS::AccountId": self.account, "AWS::Partition": partition,
                "AWS::URLSuffix": "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com"}


def declared(template: dict[str, Any]) -> list[str]:
    """The template's Transform declaration, as a list (its value must be literal strings)."""
    value = template.get("Transform")
    names = [] if value is None else value if isinstance(value, list) else [value]
    if not all(isinstance(name, str) for name in names):
        raise ValidationError(message="Template format error: the Transform section takes transform names, "
                                      "as literal strings")
    return names


def check_auto_expand(template: dict[str, Any], capabilities: list[str] | None) -> None:
    """CreateStack and UpdateStack need CAPABILITY_AUTO_EXPAND for a template with transforms; change sets do not."""
    if capabilities is not None and declared(template) and "CAPABILITY_AUTO_EXPAND" not in capabilities:
        raise InsufficientCapabilities("Requires capabilities : [CAPABILITY_AUTO_EXPAND]")


def process(template: dict[str, Any], context: StackContext, managed_policies: Any) -> dict[str, Any]:
    """The processed template: each declared transform applied in the order declared. `managed_policies` is a
    ManagedPolicyLoader (the SAM translator looks up the ARN of an AWS managed policy it does not carry)."""
    names = declared(template)
    if not names:
        return template
    for name in names:
        if name not in HOSTED:
            raise ValidationError(message=f"No transform named {context.account}::{name} found.")
    processed = copy.deepcopy(template)
    for name in names:
        try:
            if name == language_extensions.NAME:
                processed = language_extensions.transform(processed, _values(processed, context),
                                                          context.pseudo())
            else:
                processed = _serverless(processed, context, managed_policies)
        except (language_extensions.TransformError, ServerlessError) as exc:
            raise ValidationError(message=f"Transform {name} failed with: {exc}") from None
    processed.pop("Transform", None)
    return processed


def _values(template: dict[str, Any], context: StackContext) -> dict[str, str]:
    values = {name: str(spec["Default"]) for name, spec in (template.get("Parameters") or {}).items()
              if isinstance(spec, dict) and "Default" in spec}
    values.update(context.parameters)
    return values


class ServerlessError(Exception):
    """The SAM translator refused the template; the message is the translator's."""


def _serverless(template: dict[str, Any], context: StackContext, managed_policies: Any) -> dict[str, Any]:
    import boto3
    from samtranslator.model.exceptions import InvalidDocumentException
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    # The translator resolves Refs to parameters and pseudo parameters; it reads the region from a session.
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=context.region))
    values: dict[str, Any] = {**_values(template, context), **context.pseudo()}
    try:
        translated = translator.translate(json.loads(json.dumps(template)), parameter_values=values,
                                          get_managed_policy_map=managed_policies.load)
    except InvalidDocumentException as exc:
        raise ServerlessError(" ".join([exc.message, *(cause.message for cause in exc.causes)])) from None
    return dict(translated)
