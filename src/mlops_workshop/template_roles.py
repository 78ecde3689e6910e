"""The IAM roles a template declares and each statement of their inline policies, with the note that says why a
statement's grants are not used by every run of the main job: a comment right above the statement (it may go on over
the next comment lines),

    # In an account only: <why the local cloud makes no call that needs it>
    # Not in every run: <the path that needs it, which a run may not take: a failure, the clean-up>

What `iam-report` (the grants a run never used) and `iam-proof` (a statement taken out stops the main job) read."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import REPO_ROOT

NOTE = re.compile(r"#\s*(In an account only|Not in every run):\s*(.+)$")
# The templates whose roles the main job runs with: the pipeline stack, the deploy stacks, the system test's.
TEMPLATES = {"pipeline": REPO_ROOT / "cloudformation" / "mlops-pipeline.yml",
             "deploy-dev": REPO_ROOT / "container" / "assets" / "deploy-model-Dev.yml",
             "deploy-prd": REPO_ROOT / "container" / "assets" / "deploy-model-Prd.yml",
             "system-test": REPO_ROOT / "tests" / "system_test" / "workflow-resources.yml"}


@dataclass
class TemplateStatement:
    """One statement of a role's inline policy in a template."""

    template: str              # the key in TEMPLATES, or the template's file name
    role: str                  # the role's logical id
    policy: str                # the inline policy's name
    index: int                 # the statement's place in the policy
    sid: str
    effect: str
    actions: list[str]
    note_kind: str = ""        # "in an account only" or "not in every run", from its comment
    note: str = ""             # the comment's why
    document: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.template}:{self.role}/{self.policy}/{self.sid or '#' + str(self.index)}"


def parse(text: str) -> dict[str, Any]:
    """A template's text as plain data (CloudFormation's short forms as their long ones), with cfn-lint's reader."""
    from cfnlint.decode import decode_str
    template, matches = decode_str(text)
    if matches:
        raise ValueError(f"the template does not parse: {matches[0]}")
    return template


def statements(text: str, template: str) -> list[TemplateStatement]:
    """Every statement of every inline policy of every AWS::IAM::Role of the template."""
    lines = text.splitlines()
    found = []
    for logical, resource in (parse(text).get("Resources") or {}).items():
        if (resource or {}).get("Type") != "AWS::IAM::Role":
            continue
        for policy in (resource.get("Properties") or {}).get("Policies") or []:
            listed = (policy.get("PolicyDocument") or {}).get("Statement") or []
            for index, statement in enumerate(listed if isinstance(listed, list) else [listed]):
                actions = statement.get("Action", statement.get("NotAction", []))
                kind, note = _note(lines, statement)
                found.append(TemplateStatement(
                    template, logical, str(policy.get("PolicyName")), index, str(statement.get("Sid", "")),
                    str(statement.get("Effect")), [str(a) for a in (actions if isinstance(actions, list)
                                                                    else [actions])],
                    kind, note, json.loads(json.dumps(statement, default=str))))
    return found


def _note(lines: list[str], statement: Any) -> tuple[str, str]:
    above = statement.start_mark.line - 1
    while above >= 0 and lines[above].strip().startswith("#"):
        above -= 1
    comments = [line.strip() for line in lines[above + 1:statement.start_mark.line]]
    for index, line in enumerate(comments):
        match = NOTE.search(line)
        if match:
            rest = [c.lstrip("#").strip() for c in comments[index + 1:] if not NOTE.search(c)]
            return match.group(1).lower(), " ".join([match.group(2).strip(), *rest])
    return "", ""


def without(text: str, statement: TemplateStatement) -> str:
    """The template with `statement` taken out of its policy, as JSON (which CloudFormation reads as well)."""
    template = json.loads(json.dumps(parse(text), default=str))
    policies = template["Resources"][statement.role]["Properties"]["Policies"]
    policy = next(p for p in policies if str(p.get("PolicyName")) == statement.policy)
    listed = policy["PolicyDocument"]["Statement"]
    if isinstance(listed, dict) or len(listed) == 1:
        policies.remove(policy)   # a policy needs one statement at least
    else:
        del listed[statement.index]
    return json.dumps(template, indent=1)


def template_statements() -> list[TemplateStatement]:
    """The statements of the roles of the templates the main job deploys."""
    return [s for name, path in TEMPLATES.items() for s in statements(path.read_text(encoding="utf-8"), name)]
