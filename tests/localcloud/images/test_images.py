"""Which build context an ECR image URI stands for, CodeBuild's `docker`, and the container engine backend."""

import io
import shutil
import textwrap
import zipfile
from pathlib import Path

import pytest

from mlops_workshop import REPO_ROOT
from mlops_workshop.localcloud.images.models import ImageRef, parse_image_uri
from mlops_workshop.localcloud.sagemaker.analyzer import image_uri
from testkit.localcloud import (BUCKET, FAKE_IMAGE, IMAGE_URI, SAGEMAKER_ROLE, create_sagemaker_role, endpoint_settled,
                                training_job_done, training_request)
from testkit.waiting import wait_for

HERE = Path(__file__).parent


@pytest.mark.parametrize("uri, expected", [
    ("123456789012.dkr.ecr.us-east-1.amazonaws.com/abalone:latest",
     ImageRef("123456789012.dkr.ecr.us-east-1.amazonaws.com", "abalone", "latest", None)),
    ("123456789012.dkr.ecr.us-east-1.amazonaws.com/team/abalone@sha256:abc",
     ImageRef("123456789012.dkr.ecr.us-east-1.amazonaws.com", "team/abalone", None, "sha256:abc")),
    ("localhost:5000/abalone", ImageRef("localhost:5000", "abalone", "latest", None)),
    ("abalone:v2", ImageRef(None, "abalone", "v2", None)),
])
def test_parse_image_uri(uri, expected):
    assert parse_image_uri(uri) == expected
    assert parse_image_uri(uri).is_ecr == ("dkr.ecr" in uri)


def test_context_rules(cloud, tmp_path):
    found = cloud.service("images")
    uri = IMAGE_URI
    assert found.resolve(uri).context == FAKE_IMAGE  # settings image_context (this folder's conftest)
    cloud.settings.pop("image_context")
    assert found.resolve(uri).context == REPO_ROOT / "container"
    found.records.record_tag(uri, str(tmp_path), None)
    found.records.record_push({"repository": "abalone", "tag": "latest", "digest": "sha256:1",
                               "context": str(tmp_path), "build_id": "b:1"})
    assert found.resolve(uri).context == tmp_path
    assert found.resolve(uri.replace(":latest", ":other")).context == REPO_ROOT / "container"
    assert found.resolve(uri.replace(":latest", "@sha256:1")).context == tmp_path
    cloud.settings["image_contexts"] = {"abalone": str(FAKE_IMAGE)}
    assert found.resolve(uri).context == FAKE_IMAGE


def test_the_model_monitor_analyzer_is_provided_for_its_published_uri_only(cloud):
    from mlops_workshop.localcloud.sagemaker.analyzer import PROGRAM
    found = cloud.service("images")
    provided = found.resolve(image_uri("eu-west-1") + ":latest")
    assert provided.program == PROGRAM and "provided by the local cloud" in provided.rule
    # Another account's repository of that name is not AWS's image.
    other = found.resolve("123456789012.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer")
    assert other.program is None and other.context == FAKE_IMAGE


def test_a_processing_container_runs_the_dockerfiles_entrypoint_with_opt_ml_moved(cloud, tmp_path):
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text('FROM x\nENTRYPOINT ["python3", "/opt/program/job.py"]\n'
                                        'CMD ["--out", "/opt/ml/processing/output"]\n')
    (context / "job.py").write_text("import os, sys\nfrom pathlib import Path\nPath(sys.argv[2]).mkdir(parents=True)\n"
                                    "(Path(sys.argv[2]) / 'seen').write_text(os.environ['WHERE'] + ' ' + sys.argv[1])"
                                    "\n")
    cloud.settings["image_context"] = str(context)
    images, root = cloud.service("images"), tmp_path / "job"
    root.mkdir()
    run = images.process(IMAGE_URI, root, tmp_path / "job.log", {"WHERE": "/opt/ml/config/x"}, None, None, "job")
    assert run.wait(60) == 0, (tmp_path / "job.log").read_text()
    assert (root / "processing/output/seen").read_text() == f"{root}/config/x --out"
    # The job's arguments replace CMD; its entrypoint replaces both.
    run = images.process(IMAGE_URI, root, tmp_path / "job.log", {"WHERE": "w"}, None,
                         ["--out", "/opt/ml/processing/second"], "job")
    assert run.wait(60) == 0 and (root / "processing/second/seen").is_file()
    run = images.process(IMAGE_URI, root, tmp_path / "job.log", {}, ["sh", "-c", "exit 3"], None, "job")
    assert run.wait(60) == 3


def test_image_pushed_by_a_build_is_what_sagemaker_runs(clients, cloud, data_bucket):
    """A build's `docker build` + `docker push` (no engine: recorded) makes SageMaker run that build's context."""
    cloud.settings.pop("image_context")
    clients("ecr").create_repository(repositoryName="abalone")
    clients("s3").create_bucket(Bucket="image-sources")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in ("train", "serve", "Dockerfile"):
            info = zipfile.ZipInfo(f"image/{name}")
            info.external_attr = (FAKE_IMAGE / name).stat().st_mode << 16
            archive.writestr(info, (FAKE_IMAGE / name).read_bytes())
        archive.writestr("buildspec.yml", textwrap.dedent(f"""\
            version: 0.2
            phases:
              pre_build:
                commands:
                  - echo fake-password | docker login --username AWS --password-stdin {IMAGE_URI.split('/')[0]}
              build:
                commands:
                  - docker build -t abalone:latest image
                  - docker tag abalone:latest {IMAGE_URI}
                  - docker push {IMAGE_URI}
              post_build:
                commands:
                  - if docker ps; then exit 1; fi
            """))
    clients("s3").put_object(Bucket="image-sources", Key="src.zip", Body=buffer.getvalue())
    cb = clients("codebuild")
    cb.create_project(name="image", source={"type": "S3", "location": "image-sources/src.zip"},
                      artifacts={"type": "NO_ARTIFACTS"}, serviceRole="arn:aws:iam::123456789012:role/codebuild",
                      environment={"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0",
                                   "computeType": "BUILD_GENERAL1_SMALL", "privilegedMode": True})
    build_id = cb.start_build(projectName="image")["build"]["id"]
    build = wait_for(lambda: (b := cb.batch_get_builds(ids=[build_id])["builds"][0])["buildComplete"] and b,
                         120, 0.2, "the image build")
    log = Path(build["logs"]["deepLink"].removeprefix("file://")).read_text()
    assert build["buildStatus"] == "SUCCEEDED", log[-3000:]
    assert "Login Succeeded" in log
    assert "only `docker build`, `tag`, `login` and `push`" in log  # docker ps, without an engine

    details = clients("ecr").describe_images(repositoryName="abalone")["imageDetails"]
    assert [d["imageTags"] for d in details] == [["latest"]]

    sm = clients("sagemaker")
    sm.create_training_job(**training_request("from-pushed"))
    job = training_job_done(sm, "from-pushed")
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    text = cloud.log_path("training", "from-pushed").read_text()
    assert f"pushed by CodeBuild build {build_id}" in text
    assert "/codebuild/image-" in text


def test_entrypoint_that_is_missing_fails_the_job_clearly(clients, cloud, data_bucket, tmp_path):
    cloud.settings["image_context"] = str(tmp_path)
    sm = clients("sagemaker")
    sm.create_training_job(**training_request("no-train"))
    job = training_job_done(sm, "no-train")
    assert job["TrainingJobStatus"] == "Failed"
    assert job["FailureReason"] == (f"ClientError: image {IMAGE_URI} is the build context {tmp_path} "
                                    f"(settings image_context), which has no `train` entrypoint")


@pytest.fixture
def engine_settings(tmp_path_factory):
    from mlops_workshop.localcloud.images.engine import ContainerEngine
    ok, why = ContainerEngine().available()
    if not ok:
        pytest.skip(f"no container engine: {why}")
    return {"images": "engine", "image_context": str(FAKE_IMAGE), "endpoint_ready_timeout": 120,
            "engine_dir": str(tmp_path_factory.mktemp("engine"))}


@pytest.mark.engine
@pytest.mark.slow
def test_engine_builds_and_runs_the_image_in_containers(engine_settings, tmp_path, aws_env):
    """The one engine test: a CodeBuild build's `docker build` + `docker push` on the engine, a training job
    in a container of the pushed image, and an endpoint of an image no build pushed (the context, built)."""
    import boto3

    from mlops_workshop.localcloud import LocalCloud
    cloud = LocalCloud(tmp_path / "localcloud", port=0, settings=engine_settings)
    cloud.start()
    try:
        def client(service):
            return boto3.client(service, endpoint_url=cloud.endpoint_url, region_name="us-east-1")
        s3, sm, cb = client("s3"), client("sagemaker"), client("codebuild")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key="training/train.csv", Body=b"4,1,1,1,1,1,1,1,1,1,1\n6,1,1,1,1,1,1,1,1,1,1\n")
        client("ecr").create_repository(repositoryName="abalone")
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for name in ("train", "serve", "Dockerfile"):
                info = zipfile.ZipInfo(f"image/{name}")
                info.external_attr = (FAKE_IMAGE / name).stat().st_mode << 16
                archive.writestr(info, (FAKE_IMAGE / name).read_bytes())
        s3.put_object(Bucket=BUCKET, Key="src.zip", Body=buffer.getvalue())
        spec = (f"version: 0.2\nphases:\n  build:\n    commands:\n      - docker build -t {IMAGE_URI} image\n"
                f"      - docker push {IMAGE_URI}\n      - docker images\n")
        cb.create_project(name="image", source={"type": "S3", "location": f"{BUCKET}/src.zip", "buildspec": spec},
                          artifacts={"type": "NO_ARTIFACTS"}, serviceRole="arn:aws:iam::123456789012:role/cb",
                          environment={"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0",
                                       "computeType": "BUILD_GENERAL1_SMALL", "privilegedMode": True})
        build_id = cb.start_build(projectName="image")["build"]["id"]
        build = wait_for(lambda: (b := cb.batch_get_builds(ids=[build_id])["builds"][0])["buildComplete"] and b,
                             900, 1, "the image build")
        log = Path(build["logs"]["deepLink"].removeprefix("file://")).read_text()
        assert build["buildStatus"] == "SUCCEEDED", log[-3000:]
        assert "REPOSITORY" in log  # `docker images` reached the engine

        sm.create_training_job(**training_request("in-engine"))
        job = training_job_done(sm, "in-engine", timeout=300)
        text = cloud.log_path("training", "in-engine").read_text()
        assert job["TrainingJobStatus"] == "Completed", (job.get("FailureReason"), text[-2000:])
        assert "running in the container engine" in text and f"pushed by CodeBuild build {build_id}" in text

        other = IMAGE_URI.replace("/abalone:", "/other:")
        sm.create_model(ModelName="engine-model", ExecutionRoleArn=SAGEMAKER_ROLE, PrimaryContainer={
            "Image": other, "ModelDataUrl": job["ModelArtifacts"]["S3ModelArtifacts"]})
        sm.create_endpoint_config(EndpointConfigName="engine-config", ProductionVariants=[{
            "VariantName": "AllTraffic", "ModelName": "engine-model", "InitialInstanceCount": 1,
            "InstanceType": "ml.t2.medium"}])
        sm.create_endpoint(EndpointName="in-engine", EndpointConfigName="engine-config")
        endpoint = endpoint_settled(sm, "in-engine", timeout=600)
        assert endpoint["EndpointStatus"] == "InService", endpoint.get("FailureReason")
        answer = client("sagemaker-runtime").invoke_endpoint(
            EndpointName="in-engine", Body=",".join(["1"] * 10), ContentType="text/csv")
        assert answer["Body"].read() == b"5.0\n"

        # A processing job runs in a container of the image too; the Model Monitor analyzer as a local process.
        s3.put_object(Bucket=BUCKET, Key="baseline/b.csv", Body=b"a,b\n1,2\n3,4\n")
        create_sagemaker_role(client("iam"))
        inputs = [{"InputName": "data", "S3Input": {"S3Uri": f"s3://{BUCKET}/baseline/", "S3DataType": "S3Prefix",
                                                    "LocalPath": "/opt/ml/processing/input", "S3InputMode": "File"}}]
        outputs = {"Outputs": [{"OutputName": "out", "S3Output": {
            "S3Uri": f"s3://{BUCKET}/processed", "LocalPath": "/opt/ml/processing/output",
            "S3UploadMode": "EndOfJob"}}]}
        common = {"RoleArn": SAGEMAKER_ROLE, "ProcessingInputs": inputs, "ProcessingOutputConfig": outputs,
                  "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                                            "VolumeSizeInGB": 5}}}
        sm.create_processing_job(ProcessingJobName="in-engine", AppSpecification={
            "ImageUri": IMAGE_URI, "ContainerEntrypoint": ["sh", "-c"],
            "ContainerArguments": ["wc -l < /opt/ml/processing/input/b.csv > /opt/ml/processing/output/lines"]},
            **common)
        sm.create_processing_job(ProcessingJobName="analyzer", AppSpecification={"ImageUri": image_uri("us-east-1")},
                                 Environment={"dataset_format": '{"csv": {"header": true}}',
                                              "dataset_source": "/opt/ml/processing/input",
                                              "output_path": "/opt/ml/processing/output"}, **common)
        for name in ("in-engine", "analyzer"):
            job = wait_for(lambda: (j := sm.describe_processing_job(ProcessingJobName=name))[
                "ProcessingJobStatus"] not in ("InProgress", "Stopping") and j, 300, 1, f"processing job {name}")
            assert job["ProcessingJobStatus"] == "Completed", (job.get("FailureReason"),
                                                               cloud.log_path("processing", name).read_text())
        assert s3.get_object(Bucket=BUCKET, Key="processed/lines")["Body"].read() == b"3\n"
        assert "running in the container engine" in cloud.log_path("processing", "in-engine").read_text()
        assert "as a local process" in cloud.log_path("processing", "analyzer").read_text()
        engine = cloud.service("images").engine()
        assert engine.image_exists(IMAGE_URI)
        assert engine.docker("ps", "--quiet").stdout.strip()
    finally:
        cloud.stop()
        from moto.moto_api._internal.models import moto_api_backend
        moto_api_backend.reset()
        shutil.rmtree(engine_settings["engine_dir"], ignore_errors=True)  # the engine's images: a few hundred MB
    assert engine.host is None  # the cloud stopped its engine
