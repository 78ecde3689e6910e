"""Static checks of every CloudFormation template, and of the pipeline template against the code it runs."""

import ast
import json
import re
import subprocess

import pytest
from cfnlint.decode import decode_str

from mlops_workshop import REPO_ROOT, packaging
from testkit import linters

PIPELINE_TEMPLATE = REPO_ROOT / "cloudformation" / "mlops-pipeline.yml"
TEMPLATE_FOLDERS = ["cloudformation", "container/assets", "tests/system_test"]
# Lambda's Python runtimes that are neither deprecated nor scheduled for deprecation.
SUPPORTED_RUNTIMES = {"python3.12", "python3.13"}
STAGES = ["Source", "Build", "ETL", "ETLApproval", "Train", "TrainApproval", "DeployDev", "SystemTest", "DeployPrd"]


def templates():
    """Every YAML or JSON file under the template folders that declares Resources (buildspecs do not)."""
    found = []
    for folder in TEMPLATE_FOLDERS:
        for path in sorted((REPO_ROOT / folder).rglob("*")):
            if path.suffix in (".yml", ".yaml", ".json", ".template") and path.is_file():
                text = path.read_text(encoding="utf-8")
                if re.search(r'^\s*"?Resources"?\s*:', text, re.MULTILINE):
                    found.append(path)
    return found


def load(path):
    template, matches = decode_str(path.read_text(encoding="utf-8"))
    assert not matches, [str(m) for m in matches]
    return template


@pytest.fixture(scope="module")
def pipeline():
    return load(PIPELINE_TEMPLATE)


def resources_of_type(template, kind):
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def test_the_template_folders_hold_the_templates():
    names = {path.relative_to(REPO_ROOT).as_posix() for path in templates()}
    assert "cloudformation/mlops-pipeline.yml" in names


def test_cfn_lint_finds_nothing_in_any_template():
    paths = [str(path) for path in templates()]
    result = subprocess.run(
        [linters.cfn_lint(), "--format", "parseable", "--", *paths],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_checkov_finds_nothing_unjustified():
    """checkov on every template: each finding is fixed, or skipped in the resource's Metadata with the reason."""
    arguments = [linters.checkov(), "--framework", "cloudformation", "--quiet", "--compact", "--skip-download", "-o", "json"]
    for path in templates():
        arguments += ["-f", str(path)]
    result = subprocess.run(arguments, capture_output=True, text=True, timeout=600)
    assert result.stdout.strip(), f"checkov wrote nothing (exit {result.returncode}): {result.stderr[-2000:]}"
    reports = json.loads(result.stdout)
    failed = [
        f"{check['file_path']}: {check['resource']} {check['check_id']} {check['check_name']}"
        for report in (reports if isinstance(reports, list) else [reports])
        for check in report.get("results", {}).get("failed_checks", [])
    ]
    assert not failed, "\n".join(failed)


@pytest.mark.parametrize("path", templates(), ids=lambda p: p.relative_to(REPO_ROOT).as_posix())
def test_wildcards_only_where_aws_allows_nothing_else_and_each_is_commented(path):
    """Resource "*" has a comment just above it; no Action "*" or "service:*" at all."""
    lines = path.read_text(encoding="utf-8").splitlines()
    wildcard_action = re.compile(r'^(?:-\s*|"?Action"?\s*:\s*)"?(?:[a-z0-9-]+:)?\*"?\s*(?:#.*)?$')
    for number, line in enumerate(lines):
        stripped = line.strip()
        assert not wildcard_action.match(stripped), f"{path.name}:{number + 1}: wildcard action {stripped}"
        if re.match(r'^(-\s*)?"?Resource"?\s*:\s*"\*"', stripped):
            above = [ln.strip() for ln in lines[max(0, number - 3) : number]]
            assert any(ln.startswith("#") for ln in above), (
                f'{path.name}:{number + 1}: Resource "*" without a comment why'
            )


def test_every_function_runs_a_supported_python_from_its_package(pipeline):
    functions = resources_of_type(pipeline, "AWS::Lambda::Function")
    assert set(functions) == {
        "CreateModelGroup",
        "EtlLaunchJob",
        "EtlJobMonitor",
        "TrainingLaunchJob",
        "TrainingJobMonitor",
    }
    for name, function in functions.items():
        properties = function["Properties"]
        assert properties["Runtime"] in SUPPORTED_RUNTIMES, name
        assert properties["Handler"] == "lambda.lambda_handler", name
        assert properties["Code"]["S3Bucket"] == {"Ref": "ArtifactBucket"}
        key = properties["Code"]["S3Key"]["Fn::Sub"]
        folder = re.fullmatch(r"\$\{LambdaCodePrefix\}/(\w+)\.zip", key).group(1)
        handler = REPO_ROOT / "lambdas" / folder / "lambda.py"
        assert handler.is_file(), f"{name} runs lambdas/{folder}/, which does not exist"
        tree = ast.parse(handler.read_text(encoding="utf-8"))
        assert "lambda_handler" in {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}


def test_every_lambda_runtime_in_any_template_is_supported():
    for path in templates():
        template = load(path)
        for name, resource in template.get("Resources", {}).items():
            if resource.get("Type") in ("AWS::Lambda::Function", "AWS::Serverless::Function"):
                runtime = resource["Properties"].get("Runtime")
                if isinstance(runtime, dict) and "Ref" in runtime:
                    parameter = template["Parameters"][runtime["Ref"]]
                    allowed = set(parameter.get("AllowedValues", [parameter.get("Default")]))
                    assert allowed <= SUPPORTED_RUNTIMES, f"{path.name} {name}: {allowed}"
                else:
                    assert runtime in SUPPORTED_RUNTIMES, f"{path.name} {name}: {runtime}"


def environment_reads(folder):
    """The variables a function's package requires (its own code and the shared module it gets): os.environ["NAME"]."""
    contents = packaging.package_contents(REPO_ROOT / "lambdas" / folder)
    text = "\n".join(body.decode("utf-8") for name, body in contents.items() if name.endswith(".py"))
    return set(re.findall(r'os\.environ\["([A-Z_]+)"\]', text))


def test_each_function_gets_the_environment_its_code_reads(pipeline):
    for name, function in resources_of_type(pipeline, "AWS::Lambda::Function").items():
        folder = re.search(r"/(\w+)\.zip", function["Properties"]["Code"]["S3Key"]["Fn::Sub"]).group(1)
        given = set(function["Properties"].get("Environment", {}).get("Variables", {}))
        assert environment_reads(folder) <= given, f"{name} lacks {environment_reads(folder) - given}"


def test_the_pipeline_runs_the_stages_in_order(pipeline):
    stages = pipeline["Resources"]["MLOpsPipeline"]["Properties"]["Stages"]
    assert [stage["Name"] for stage in stages] == STAGES


def actions(pipeline):
    found = {}
    for stage in pipeline["Resources"]["MLOpsPipeline"]["Properties"]["Stages"]:
        for action in stage["Actions"]:
            if "Fn::If" in action:
                for branch in action["Fn::If"][1:]:
                    found.setdefault(branch["Name"], []).append(branch)
            else:
                found.setdefault(action["Name"], []).append(action)
    return found


def test_sources_are_codecommit_or_s3_by_parameter(pipeline):
    found = actions(pipeline)
    for name in ("ModelSource", "ETLSource", "TestSource"):
        assert [a["ActionTypeId"]["Provider"] for a in found[name]] == ["CodeCommit", "S3"], name
    assert found["DataSource"][0]["Configuration"]["S3ObjectKey"] == {"Ref": "RawDataKey"}


def test_lambda_actions_pass_the_execution_id_the_functions_need(pipeline):
    found = actions(pipeline)
    for name in ("GlueJob", "TrainModel"):
        parameters = json.loads(found[name][0]["Configuration"]["UserParameters"])
        assert parameters == {"ExecutionId": "#{codepipeline.PipelineExecutionId}"}


def test_approvals_are_the_ones_the_monitors_answer(pipeline):
    found = actions(pipeline)
    assert found["ApproveETL"][0]["ActionTypeId"]["Provider"] == "Manual"
    assert found["ApproveTrain"][0]["ActionTypeId"]["Provider"] == "Manual"
    functions = pipeline["Resources"]
    assert functions["EtlJobMonitor"]["Properties"]["Environment"]["Variables"]["APPROVAL_STAGE"] == "ETLApproval"
    assert functions["EtlJobMonitor"]["Properties"]["Environment"]["Variables"]["APPROVAL_ACTION"] == "ApproveETL"
    assert (
        functions["TrainingJobMonitor"]["Properties"]["Environment"]["Variables"]["APPROVAL_STAGE"] == "TrainApproval"
    )
    assert (
        functions["TrainingJobMonitor"]["Properties"]["Environment"]["Variables"]["APPROVAL_ACTION"] == "ApproveTrain"
    )


def test_deployments_use_the_files_the_deployment_build_writes(pipeline):
    found = actions(pipeline)
    buildspec = (REPO_ROOT / "container" / "buildspec.yml").read_text(encoding="utf-8")
    for stage in ("Dev", "Prd"):
        build = found[f"Build{stage}Deployment"][0]
        variables = {v["name"]: v["value"] for v in json.loads(build["Configuration"]["EnvironmentVariables"])}
        assert variables == {"STAGES": stage, "PIPELINE_EXECUTION_ID": "#{codepipeline.PipelineExecutionId}"}
        deploy = found[f"Deploy{stage}Model"][0]["Configuration"]
        output = build["OutputArtifacts"][0]["Name"]
        assert deploy["TemplatePath"] == f"{output}::deploy-model-{stage}.yml"
        assert deploy["TemplateConfiguration"] == f"{output}::{stage}-config-export.json"
        assert (REPO_ROOT / "container" / "assets" / f"deploy-model-{stage}.yml").is_file()
    assert "deploy-model-*.yml" in buildspec and "-config-export.json" in buildspec


def test_the_system_test_runs_the_state_machine_the_workflow_build_creates(pipeline):
    found = actions(pipeline)
    build = found["BuildTestingWorkflow"][0]
    run = found["ExecuteSystemTest"][0]
    assert run["ActionTypeId"]["Provider"] == "StepFunctions"
    assert run["InputArtifacts"] == build["OutputArtifacts"]
    assert run["Configuration"]["InputType"] == "FilePath"
    buildspec = (REPO_ROOT / "tests" / "system_test" / "buildspec.yml").read_text(encoding="utf-8")
    assert run["Configuration"]["Input"] in buildspec
    assert run["Configuration"]["StateMachineArn"]["Fn::Sub"].endswith(":stateMachine:${ModelName}-system-test")


def build_variables(pipeline, project):
    variables = pipeline["Resources"][project]["Properties"]["Environment"]["EnvironmentVariables"]
    return {v["Name"] for v in variables}


def test_the_builds_get_the_variables_their_build_scripts_read(pipeline):
    for project, script in [
        ("BuildDeploymentProject", "container/build.py"),
        ("BuildWorkflowProject", "tests/system_test/build.py"),
    ]:
        text = (REPO_ROOT / script).read_text(encoding="utf-8")
        read = set(re.findall(r"""(?:env\(|os\.environ\[)["']([A-Z_]+)["']""", text))
        given = build_variables(pipeline, project) | {"PIPELINE_EXECUTION_ID", "STAGES"}
        required = {"MODEL_NAME", "SAGEMAKER_ROLE_ARN", "PIPELINE_EXECUTION_ID"} & read
        assert required <= given, f"{project} lacks {required - given}"
        unknown = build_variables(pipeline, project) - read
        assert not unknown, f"{project} sets {unknown}, which {script} does not read"


def test_the_image_build_is_privileged_on_a_current_image(pipeline):
    for name, project in resources_of_type(pipeline, "AWS::CodeBuild::Project").items():
        environment = project["Properties"]["Environment"]
        assert environment["Image"] in ("aws/codebuild/standard:7.0", "aws/codebuild/amazonlinux-x86_64-standard:5.0")
        assert environment.get("PrivilegedMode", False) is (name == "BuildImageProject")
