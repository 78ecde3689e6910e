"""Which build context an ECR image URI stands for, CodeBuild's `docker`, and the container engine backend."""

import io
import shutil
import textwrap
import zipfile
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from mlops_workshop.localcloud.images.exceptions import ImageNotFound
from mlops_workshop.localcloud.images.models import ImageRef, parse_image_uri
from mlops_workshop.localcloud.sagemaker.analyzer import image_uri
from testkit.localcloud import (BUCKET, CODEBUILD_ROLE, FAKE_IMAGE, IMAGE_URI, SAGEMAKER_ROLE, endpoint_settled,
                                execution_role, service_role, training_job_done, training_request)
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


def test_context_rules(cloud, clients, tmp_path):
    found = cloud.service("images")
    uri = IMAGE_URI
    assert found.pull(uri, SAGEMAKER_ROLE).context == FAKE_IMAGE  # settings image_contexts (this folder's conftest)
    cloud.settings.pop("image_contexts")
    with pytest.raises(ImageNotFound, match="Cannot find repository: abalone in registry ID: 123456789012"):
        found.pull(uri, SAGEMAKER_ROLE)
    clients("ecr").create_repository(repositoryName="abalone")
    clients("ecr").put_image(repositoryName="abalone", imageManifest=MANIFEST, imageTag="latest")
    with pytest.raises(ImageNotFound, match="the local cloud does not know what it was built from"):
        found.pull(uri, SAGEMAKER_ROLE)
    found.records.record_push({"repository": "abalone", "tag": "latest", "digest": "sha256:1",
                               "context": str(tmp_path), "build_id": "b:1"})
    assert found.pull(uri, SAGEMAKER_ROLE).context == tmp_path
    with pytest.raises(ImageNotFound, match="with tag: other and digest: null"):
        found.pull(uri.replace(":latest", ":other"), SAGEMAKER_ROLE)
    cloud.settings["image_contexts"] = {"abalone": str(FAKE_IMAGE)}
    assert found.pull(uri, SAGEMAKER_ROLE).context == FAKE_IMAGE


MANIFEST = ('{"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json", "config": '
            '{"mediaType": "application/vnd.docker.container.image.v1+json", "size": 0, "digest": "sha256:' + "0" * 64
            + '"}, "layers": []}')


def test_an_image_never_pushed_is_refused_as_sagemaker_refuses_it(clients, cloud, data_bucket):
    cloud.settings.pop("image_contexts")
    sm = clients("sagemaker")
    with pytest.raises(ClientError) as error:
        sm.create_training_job(**training_request("never-pushed"))
    assert error.value.response["Error"]["Code"] == "ValidationException"
    assert error.value.response["Error"]["Message"] == (
        f"Cannot find repository: abalone in registry ID: 123456789012 Please check if your ECR repository exists and "
        f"role {SAGEMAKER_ROLE} has proper pull permissions for SageMaker: ecr:BatchCheckLayerAvailability, "
        "ecr:BatchGetImage, ecr:GetDownloadUrlForLayer")
    clients("ecr").create_repository(repositoryName="abalone")
    with pytest.raises(ClientError) as error:
        sm.create_model(ModelName="never-pushed", ExecutionRoleArn=SAGEMAKER_ROLE,
                        PrimaryContainer={"Image": IMAGE_URI})
    assert error.value.response["Error"]["Message"].startswith(
        f"Cannot find the requested image: {IMAGE_URI} with tag: latest and digest: null. Please check if your ECR "
        f"image exists and role {SAGEMAKER_ROLE} has proper pull permissions")


def test_the_pull_is_judged_against_the_execution_role(clients, cloud, data_bucket):
    from testkit.localcloud import service_role
    role = service_role(clients, "arn:aws:iam::123456789012:role/no-pull", "sagemaker.amazonaws.com", [
        {"Effect": "Allow", "Action": ["s3:*", "ecr:GetAuthorizationToken"], "Resource": "*"}])
    with pytest.raises(ClientError) as error:
        clients("sagemaker").create_training_job(**training_request("no-pull", RoleArn=role))
    message = error.value.response["Error"]["Message"]
    assert message.startswith(f"Cannot pull the requested image: {IMAGE_URI}: User: arn:aws:sts::123456789012:"
                              "assumed-role/no-pull/")
    assert ("is not authorized to perform: ecr:BatchCheckLayerAvailability on resource: "
            "arn:aws:ecr:us-east-1:123456789012:repository/abalone") in message


LINEAR_LEARNER = "382416733822.dkr.ecr.us-east-1.amazonaws.com/linear-learner:1"


def test_aws_publishes_its_images_from_the_registries_the_sagemaker_sdk_lists():
    from mlops_workshop.localcloud.images.published import account, publishes, registries
    assert len(registries()) > 50
    assert publishes(parse_image_uri(LINEAR_LEARNER))
    assert publishes(parse_image_uri("404615174143.dkr.ecr.us-east-2.amazonaws.com/linear-learner:1"))
    assert not publishes(parse_image_uri("123456789012.dkr.ecr.us-east-1.amazonaws.com/linear-learner:1"))
    assert not publishes(parse_image_uri("382416733822.dkr.ecr.us-east-1.amazonaws.com/abalone:1"))
    assert account("sagemaker-model-monitor-analyzer", "us-east-1") == "156813124566"


def test_a_built_in_algorithm_is_accepted_at_create_and_fails_when_it_runs(clients, cloud, data_bucket):
    # SageMaker pulls its built-in algorithms with its own credentials: the role is not asked for ECR permissions.
    from testkit.localcloud import service_role
    role = service_role(clients, "arn:aws:iam::123456789012:role/no-ecr", "sagemaker.amazonaws.com", [
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}])
    sm = clients("sagemaker")
    sm.create_model(ModelName="linear", ExecutionRoleArn=role, PrimaryContainer={"Image": LINEAR_LEARNER})
    sm.create_training_job(**training_request("linear", image=LINEAR_LEARNER, RoleArn=role))
    job = training_job_done(sm, "linear")
    assert job["TrainingJobStatus"] == "Failed"
    assert job["FailureReason"] == (f"ClientError: Cannot pull {LINEAR_LEARNER}: it is AWS's image linear-learner, "
                                    "which the local cloud cannot reach from here; run an image of your own ECR, or "
                                    "name a build context for it in settings image_contexts")
    # Another account's repository of that name is not AWS's: its ECR must have it.
    with pytest.raises(ClientError, match="Cannot find repository: linear-learner in registry ID: 123456789012"):
        sm.create_model(ModelName="not-aws", ExecutionRoleArn=role, PrimaryContainer={
            "Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/linear-learner:1"})


def test_a_built_in_algorithm_runs_the_build_context_the_settings_name_for_it(cloud):
    cloud.settings["image_contexts"] = {"linear-learner": str(FAKE_IMAGE)}
    assert cloud.service("images").pull(LINEAR_LEARNER, SAGEMAKER_ROLE).context == FAKE_IMAGE


def test_the_model_monitor_analyzer_is_provided_for_its_published_uri_only(cloud):
    from mlops_workshop.localcloud.sagemaker.analyzer import PROGRAM
    found = cloud.service("images")
    provided = found.pull(image_uri("eu-west-1") + ":latest", SAGEMAKER_ROLE, "eu-west-1")
    assert provided.program == PROGRAM and "provided by the local cloud" in provided.rule
    # Another account's repository of that name is not AWS's image: this account's ECR has no such repository.
    with pytest.raises(ImageNotFound, match="Cannot find repository: sagemaker-model-monitor-analyzer in registry ID"):
        found.pull("123456789012.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer", SAGEMAKER_ROLE)


def test_a_processing_container_runs_the_dockerfiles_entrypoint_with_opt_ml_moved(cloud, tmp_path):
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text('FROM x\nENTRYPOINT ["python3", "/opt/program/job.py"]\n'
                                        'CMD ["--out", "/opt/ml/processing/output"]\n')
    (context / "job.py").write_text("import os, sys\nfrom pathlib import Path\nPath(sys.argv[2]).mkdir(parents=True)\n"
                                    "(Path(sys.argv[2]) / 'seen').write_text(os.environ['WHERE'] + ' ' + sys.argv[1])"
                                    "\n")
    cloud.settings["image_contexts"] = {"abalone": str(context)}
    images, root = cloud.service("images"), tmp_path / "job"
    image = images.pull(IMAGE_URI, SAGEMAKER_ROLE)
    root.mkdir()
    run = images.process(image, root, tmp_path / "job.log", {"WHERE": "/opt/ml/config/x"}, None, None, "job")
    assert run.wait(60) == 0, (tmp_path / "job.log").read_text()
    assert (root / "processing/output/seen").read_text() == f"{root}/config/x --out"
    # The job's arguments replace CMD; its entrypoint replaces both.
    run = images.process(image, root, tmp_path / "job.log", {"WHERE": "w"}, None,
                         ["--out", "/opt/ml/processing/second"], "job")
    assert run.wait(60) == 0 and (root / "processing/second/seen").is_file()
    run = images.process(image, root, tmp_path / "job.log", {}, ["sh", "-c", "exit 3"], None, "job")
    assert run.wait(60) == 3


def test_image_pushed_by_a_build_is_what_sagemaker_runs(clients, cloud, data_bucket):
    """A build's `docker build` + `docker push` (no engine: recorded) makes SageMaker run that build's context."""
    cloud.settings.pop("image_contexts")
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
                      artifacts={"type": "NO_ARTIFACTS"},
                      serviceRole=service_role(clients, CODEBUILD_ROLE, "codebuild.amazonaws.com"),
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


def test_an_image_process_mode_cannot_run_is_refused_saying_to_use_the_engine(clients, cloud, data_bucket, tmp_path):
    for name in ("train", "serve"):
        shutil.copy(FAKE_IMAGE / name, tmp_path / name)
    (tmp_path / "Dockerfile").write_text('FROM debian\nCOPY train serve /opt/program/\n'
                                         'ENTRYPOINT ["python3", "x.py"]\n')
    cloud.settings["image_contexts"] = {"abalone": str(tmp_path)}
    sm = clients("sagemaker")
    sm.create_training_job(**training_request("entrypoint"))
    job = training_job_done(sm, "entrypoint")
    assert job["TrainingJobStatus"] == "Failed"
    assert job["FailureReason"] == (
        f"ClientError: image {IMAGE_URI} ({tmp_path}, settings image_contexts['abalone']) cannot run as a local "
        "process: its Dockerfile sets ENTRYPOINT python3 x.py, which SageMaker runs with `train` as its argument; "
        "run it in the container engine instead (--images engine, setting images=engine)")


@pytest.mark.parametrize("dockerfile, found", [
    ("FROM x\nCOPY program /opt/program\nENV PATH=/opt/program:$PATH\n", "program/train"),
    ("FROM x\nWORKDIR /usr/local\nCOPY program/train bin/\n", "program/train"),
    ("FROM x AS build\nENTRYPOINT [\"x\"]\nFROM y\nCOPY program/* /usr/bin/\n", "program/train"),
    ("FROM x\nCOPY program /opt/program\n", None),
    ("FROM x\nCOPY --from=build /out/train /usr/bin/train\n", None),
])
def test_which_context_file_is_train_in_the_image(tmp_path, dockerfile, found):
    from mlops_workshop.localcloud.images.dockerfile import process_entrypoint
    (tmp_path / "program").mkdir()
    (tmp_path / "program" / "train").write_text("#!/bin/sh\n")
    (tmp_path / "Dockerfile").write_text(dockerfile)
    path, why = process_entrypoint(tmp_path, "train")
    assert (path.relative_to(tmp_path).as_posix() if path else None) == found, why
    assert bool(why) == (found is None)


@pytest.mark.parametrize("dockerfile, expected", [
    ('FROM x\nENTRYPOINT ["python3", "job.py"]\nCMD ["--all"]\n', (["python3", "job.py"], ["--all"])),
    ("FROM x\nENTRYPOINT python3 job.py --all\n", (["/bin/sh", "-c", "python3 job.py --all"], [])),
    ('FROM x AS build\nENTRYPOINT ["build"]\nFROM y\nCMD ["run"]\n', ([], ["run"])),
    ("FROM x\n", ([], [])),
])
def test_a_processing_images_entrypoint_and_cmd(tmp_path, dockerfile, expected):
    from mlops_workshop.localcloud.images.dockerfile import entrypoint_and_cmd
    (tmp_path / "Dockerfile").write_text(dockerfile)
    assert entrypoint_and_cmd(tmp_path) == expected


@pytest.fixture
def engine_settings(tmp_path_factory):
    from mlops_workshop.localcloud.images.engine import ContainerEngine
    ok, why = ContainerEngine().available()
    if not ok:
        pytest.skip(f"no container engine: {why}")
    return {"images": "engine", "image_contexts": {"other": str(FAKE_IMAGE)}, "endpoint_ready_timeout": 120,
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
        execution_role(client)
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
                          artifacts={"type": "NO_ARTIFACTS"},
                          serviceRole=service_role(client, CODEBUILD_ROLE, "codebuild.amazonaws.com"),
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
