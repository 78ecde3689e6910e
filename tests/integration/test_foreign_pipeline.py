"""A pipeline this project did not write (foreign_pipeline/: a SAM application with two Lambdas, a Glue Python-shell
script, a Step Functions workflow with `.sync` Glue and SageMaker steps and a Catch, a buildspec with a privileged
image build) deployed as `sam deploy` deploys it and run to its end, on a local cloud of its own."""

import io
import json
import subprocess
import zipfile
from pathlib import Path

import pytest

from testkit.linters import cfn_lint
from testkit.localcloud import ACCOUNT, REGION, untar
from testkit.stepfunctions import finished
from testkit.waiting import wait_for

HERE = Path(__file__).with_name("foreign_pipeline")
STACK = "foreign"
BUCKET = f"foreign-artifacts-{ACCOUNT}"
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{STACK}-train:latest"


def engine_or_skip() -> dict:
    from mlops_workshop.localcloud.images.engine import ContainerEngine
    ok, why = ContainerEngine().available()
    if not ok:
        pytest.skip(f"no container engine: {why}")
    return {"images": "engine"}


@pytest.fixture
def cloud_settings(request):
    """Images as local processes (the build's `docker build` and `push` recorded; `train` run from the pushed
    context, as the Dockerfile puts it on PATH), or in the container engine (built and run for real)."""
    return engine_or_skip() if request.param == "engine" else {"images": "process"}


def package(*paths: str) -> bytes:
    """A zip of these files or folders of the fixture, named relative to their folder (or to the fixture for a
    folder given with a trailing "/"), executable modes kept, as `sam package` and a source zip keep them."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in paths:
            source = HERE / path
            files = sorted(p for p in source.rglob("*") if p.is_file()) if source.is_dir() else [source]
            base = HERE if path.endswith("/") else (source if source.is_dir() else source.parent)
            for file in files:
                info = zipfile.ZipInfo(file.relative_to(base).as_posix())
                info.external_attr = file.stat().st_mode << 16
                archive.writestr(info, file.read_bytes())
    return buffer.getvalue()


def upload_code(s3) -> None:
    """What `sam package` and the README's upload steps put in the artifact bucket."""
    s3.create_bucket(Bucket=BUCKET)
    for key, body in (("code/prepare.zip", package("functions/prepare")),
                      ("code/evaluate.zip", package("functions/evaluate")),
                      ("code/featurize.py", (HERE / "glue/featurize.py").read_bytes()),
                      ("code/training.asl.json", (HERE / "statemachine/training.asl.json").read_bytes()),
                      ("code/image-source.zip", package("buildspec.yml", "image/"))):
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)


def deploy(clients) -> dict[str, str]:
    cfn = clients("cloudformation")
    cfn.create_stack(StackName=STACK, TemplateBody=(HERE / "template.yaml").read_text(),
                     Parameters=[{"ParameterKey": "ArtifactBucket", "ParameterValue": BUCKET}],
                     Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"])

    def settled():
        stack = cfn.describe_stacks(StackName=STACK)["Stacks"][0]
        return stack if not stack["StackStatus"].endswith("_IN_PROGRESS") else None
    stack = wait_for(settled, 120, 0.2, "the stack to settle")
    failures = [(e["LogicalResourceId"], e.get("ResourceStatusReason")) for e in
                cfn.describe_stack_events(StackName=STACK)["StackEvents"] if e["ResourceStatus"].endswith("FAILED")]
    assert stack["StackStatus"] == "CREATE_COMPLETE", failures
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


def recorded(described: dict) -> dict | None:
    """What the workflow's RecordFailure state recorded of the error a Catch routed to it (None: nothing failed)."""
    return next((json.loads(e["stateExitedEventDetails"]["output"])["recorded"] for e in described["history"]
                 if e["type"] == "PassStateExited" and e["stateExitedEventDetails"]["name"] == "RecordFailure"), None)


def test_the_template_is_one_cloudformation_takes():
    """cfn-lint holds it to CloudFormation's and SAM's schemas (and to Lambda runtimes AWS still allows)."""
    lint = subprocess.run([cfn_lint(), str(HERE / "template.yaml")], capture_output=True, text=True, timeout=120)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def build_image(clients, project: str) -> dict:
    cb = clients("codebuild")
    build_id = cb.start_build(projectName=project)["build"]["id"]
    build = wait_for(lambda: (b := cb.batch_get_builds(ids=[build_id])["builds"][0])["buildComplete"] and b,
                     600, 0.2, "the image build")
    log = Path(build["logs"]["deepLink"].removeprefix("file://")).read_text()
    assert build["buildStatus"] == "SUCCEEDED", log[-3000:]
    assert "Login Succeeded" in log
    return build


def run(sfn, machine: str, name: str, execution_input: dict) -> dict:
    arn = sfn.start_execution(stateMachineArn=machine, name=name, input=json.dumps(execution_input))["executionArn"]
    return finished(sfn, arn, timeout=300)


@pytest.mark.parametrize("cloud_settings", ["process", pytest.param(
    "engine", marks=[pytest.mark.engine, pytest.mark.slow])], indirect=True)
def test_a_pipeline_written_elsewhere_deploys_builds_and_runs_to_its_end(cloud, clients):
    s3, sm, sfn = clients("s3"), clients("sagemaker"), clients("stepfunctions")
    upload_code(s3)
    outputs = deploy(clients)
    assert outputs["TrainingImage"] == IMAGE

    # The privileged build: docker login, build and push to the stack's repository; its variables exported and
    # named in the artifact.
    build = build_image(clients, outputs["ImageBuildProject"])
    assert build["exportedEnvironmentVariables"] == [{"name": "IMAGE_URI", "value": IMAGE}]
    artifact = s3.get_object(Bucket=BUCKET, Key="builds/image-latest.zip")["Body"].read()
    with zipfile.ZipFile(io.BytesIO(artifact)) as archive:
        assert json.loads(archive.read("image.json")) == {"ImageUri": IMAGE}
    tags = [d["imageTags"] for d in clients("ecr").describe_images(repositoryName=f"{STACK}-train")["imageDetails"]]
    assert tags == [["latest"]]

    # Prepare → Featurize (Glue .sync) → Train (SageMaker .sync) → Evaluate → ModelAccepted.
    done = run(sfn, outputs["StateMachineArn"], "run-1", {"rows": 40, "epochs": "300", "threshold": 0.5})
    assert done["status"] == "SUCCEEDED", (done.get("error"), recorded(done))
    result = json.loads(done["output"])
    assert result["raw"] == {"bucket": BUCKET, "key": "raw/run-1/rows.csv", "rows": 40}
    assert result["featurize"]["JobRunState"] == "SUCCEEDED"
    features = s3.get_object(Bucket=BUCKET, Key="features/run-1/train.csv")["Body"].read().decode().splitlines()
    assert len(features) == 40
    for row in features:
        label, width, height, area = map(float, row.split(","))
        assert area == round(width * height, 6)
    job = sm.describe_training_job(TrainingJobName="foreign-run-1")
    assert job["TrainingJobStatus"] == "Completed"
    assert job["AlgorithmSpecification"]["TrainingImage"] == IMAGE
    artifacts = job["ModelArtifacts"]["S3ModelArtifacts"]
    assert result["train"] == {"TrainingJobName": "foreign-run-1", "ModelArtifacts": artifacts}
    assert artifacts == f"s3://{BUCKET}/models/foreign-run-1/output/model.tar.gz"
    model = json.loads(untar(s3.get_object(Bucket=BUCKET, Key=artifacts.split("/", 3)[3])["Body"].read())[
        "model.json"])
    assert result["evaluation"] == {"rmse": model["rmse"], "passed": True, "trained_on": 40}
    training_log = cloud.log_path("training", "foreign-run-1").read_text()
    assert "pushed by CodeBuild build " + build["id"] in training_log
    where = "in the container engine" if cloud.settings["images"] == "engine" else "as a local process"
    assert f"running {where}" in training_log
    entered = [e["stateEnteredEventDetails"]["name"] for e in done["history"] if e["type"].endswith("StateEntered")]
    assert entered == ["Prepare", "Featurize", "Train", "Evaluate", "CheckQuality", "ModelAccepted"]

    # Bad input: the training job fails, the Catch routes its error to RecordFailure, the workflow's Fail ends it.
    failed = run(sfn, outputs["StateMachineArn"], "run-2", {"rows": 10, "epochs": "many", "threshold": 0.5})
    assert (failed["status"], failed.get("error")) == ("FAILED", "TrainingPipelineFailed"), failed
    job = sm.describe_training_job(TrainingJobName="foreign-run-2")
    assert job["TrainingJobStatus"] == "Failed"
    assert "bad hyperparameter: invalid literal for int() with base 10: 'many'" in job["FailureReason"]
    entered = [e["stateEnteredEventDetails"]["name"] for e in failed["history"] if e["type"].endswith("StateEntered")]
    assert entered == ["Prepare", "Featurize", "Train", "RecordFailure", "TrainingFailed"]
    failure = recorded(failed)
    assert failure["error"] == "States.TaskFailed" and failure["execution"] == failed["executionArn"]
    assert json.loads(failure["cause"])["TrainingJobStatus"] == "Failed"
