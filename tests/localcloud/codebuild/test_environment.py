"""What a build runs in: a fresh environment of its own (HOME, Python, source folder), CodeBuild's variables, the
image's runtimes, a Docker daemon only when privileged, and the project's service role as its identity."""

import importlib.util
import json
import textwrap

import pytest

from localcloud.codebuild.buildkit import build_log, phase, phases, run
from mlops_workshop.localcloud.codebuild.environment import machine_python
from testkit.localcloud import ACCOUNT, CODEBUILD_ROLE

NO_ARTIFACTS = {"type": "NO_ARTIFACTS"}
TINY_PACKAGE = {
    "tinypkg/pyproject.toml": '[project]\nname = "lc2-tinypkg"\nversion = "0.1"\n'
                              '[tool.setuptools]\npy-modules = ["lc2_tinypkg"]\n',
    "tinypkg/lc2_tinypkg.py": "VALUE = 1\n",
}


def spec(*commands: str, install: tuple[str, ...] = (), runtimes: dict | None = None) -> str:
    phases_ = {"build": {"commands": list(commands)}}
    if install or runtimes:
        phases_["install"] = {"commands": list(install) or ["true"], **({"runtime-versions": runtimes}
                                                                         if runtimes else {})}
    return json.dumps({"version": "0.2", "phases": phases_})


def test_a_package_one_build_installs_is_not_there_in_the_next(clients, project):
    buildspec = spec(
        'python -c "import boto3, yaml; print(\'image packages\', boto3.__version__)"',
        'if python -c "import lc2_tinypkg" 2>/dev/null; then echo "left over"; exit 1; fi',
        'if python -c "import mlops_workshop" 2>/dev/null || python -c "import moto" 2>/dev/null; then exit 1; fi',
        "pip install --quiet --no-deps --no-index --no-build-isolation ./tinypkg",
        'python -c "import lc2_tinypkg, sys; print(\'installed in\', sys.prefix)"',
        'echo "home=$HOME src=$CODEBUILD_SRC_DIR path=$PATH pythonpath=${PYTHONPATH:-none}"')
    name = project("fresh", {**TINY_PACKAGE, "buildspec.yml": buildspec}, artifacts=NO_ARTIFACTS)
    first, second = run(clients, name), run(clients, name)
    for build in (first, second):
        text = build_log(build)
        assert build["buildStatus"] == "SUCCEEDED", text[-3000:]
        assert "image packages" in text
        prefix = next(line for line in text.splitlines() if line.startswith("installed in ")).split()[-1]
        uuid = build["id"].split(":", 1)[1]
        assert prefix.endswith(f"fresh-{uuid}/python")
        env = dict(item.split("=", 1) for item in
                   next(line for line in text.splitlines() if line.startswith("home=")).split())
        assert env["home"].endswith(f"fresh-{uuid}/home") and env["src"].endswith(f"fresh-{uuid}/src")
        assert env["pythonpath"] == "none" and "/.venv/bin" not in env["path"]
    assert importlib.util.find_spec("lc2_tinypkg") is None


def test_codebuild_variables_and_the_service_role_as_the_builds_identity(clients, project):
    buildspec = spec(
        "env | grep -E '^(CODEBUILD_|AWS_REGION|AWS_DEFAULT_REGION)' | sort",
        'test -n "$AWS_SESSION_TOKEN"',
        "python -c \"import boto3; print('caller', boto3.client('sts').get_caller_identity()['Arn'])\"")
    name = project("identity", {"buildspec.yml": buildspec}, artifacts=NO_ARTIFACTS)
    build = run(clients, name, sourceVersion="v1")
    text = build_log(build)
    assert build["buildStatus"] == "SUCCEEDED", text[-3000:]
    uuid = build["id"].split(":", 1)[1]
    lines = set(text.splitlines())
    for expected in (f"CODEBUILD_BUILD_ID={build['id']}", f"CODEBUILD_BUILD_ARN={build['arn']}",
                     "CODEBUILD_BUILD_NUMBER=1", "CODEBUILD_BUILD_IMAGE=aws/codebuild/standard:7.0",
                     "CODEBUILD_SOURCE_VERSION=v1", "CODEBUILD_INITIATOR=localcloud", "AWS_REGION=us-east-1",
                     "AWS_DEFAULT_REGION=us-east-1"):
        assert expected in lines
    assert any(line.startswith("CODEBUILD_RESOLVED_SOURCE_VERSION=") and len(line) > 35 for line in lines)
    assert f"caller arn:aws:sts::{ACCOUNT}:assumed-role/codebuild-test/AWSCodeBuild-{uuid}" in lines


@pytest.mark.parametrize("version, prints", [("3.12", "3.12."), ("3.x", "3.14."), ("3.10", "3.10.")])
def test_runtime_versions_select_the_images_python(clients, project, version, prints):
    name = project(f"py-{version.replace('.', '')}", {"buildspec.yml": spec(
        "python --version", runtimes={"python": version})}, artifacts=NO_ARTIFACTS)
    build = run(clients, name)
    text = build_log(build)
    assert build["buildStatus"] == "SUCCEEDED", text[-3000:]
    minor = prints.rstrip(".")
    assert f"Installing Python version {'3.14' if version == '3.x' else version} ..." in text
    if machine_python(minor):
        assert f"Python {prints}" in text
    else:
        assert f"this machine has no python{minor}" in text


def test_a_runtime_version_the_image_lacks_fails_the_install_phase(clients, project):
    name = project("py27", {"buildspec.yml": spec("echo never", runtimes={"python": "2.7"})}, artifacts=NO_ARTIFACTS)
    build = run(clients, name)
    assert build["buildStatus"] == "FAILED"
    assert phases(build)[-3:] == [("INSTALL", "FAILED"), ("FINALIZING", "SUCCEEDED"), ("COMPLETED", None)]
    assert phase(build, "INSTALL")["contexts"] == [{
        "statusCode": "YAML_FILE_ERROR", "message": "Unknown runtime version named '2.7' of python. This build image "
                                                    "has the following versions: 3.9, 3.10, 3.11, 3.12, 3.13, 3.14"}]
    other = project("cobol", {"buildspec.yml": spec("true", runtimes={"cobol": "85"})}, artifacts=NO_ARTIFACTS)
    message = phase(run(clients, other), "INSTALL")["contexts"][0]["message"]
    assert message == ("Unknown runtime named 'cobol'. This build image has the following runtimes: dotnet, golang, "
                       "java, nodejs, php, python, ruby")


def test_only_a_privileged_build_has_a_docker_daemon(clients, project):
    buildspec = spec("docker --version", "docker ps")
    name = project("unprivileged", {"buildspec.yml": buildspec}, artifacts=NO_ARTIFACTS)
    build = run(clients, name)
    text = build_log(build)
    assert build["buildStatus"] == "FAILED"
    assert "Docker version 28.5.2" in text
    assert "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" in text
    assert phase(build, "BUILD")["contexts"][0]["message"] == ("Error while executing command: docker ps. Reason: "
                                                               "exit status 1")
    images = project("privileged", {"buildspec.yml": spec("docker build -t x:1 .", "docker images"),
                                    "Dockerfile": "FROM scratch\n"},
                     artifacts=NO_ARTIFACTS, environment={"privilegedMode": True})
    text = build_log(run(clients, images))
    assert "recorded build context" in text and "Cannot connect" not in text


def narrow_role(clients, name: str, statements: list) -> str:
    from testkit.localcloud import service_role
    return service_role(clients, f"arn:aws:iam::{ACCOUNT}:role/{name}", "codebuild.amazonaws.com", statements)


LOGS = {"Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": "*"}
SOURCE_READ = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::build-sources-123456789012/*"}


def test_a_role_that_codebuild_cannot_assume_fails_provisioning(clients, project):
    iam = clients("iam")
    iam.create_role(RoleName="for-lambda", AssumeRolePolicyDocument=json.dumps({"Statement": [{
        "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))
    role = f"arn:aws:iam::{ACCOUNT}:role/for-lambda"
    build = run(clients, project("untrusted", {"buildspec.yml": spec("true")}, artifacts=NO_ARTIFACTS, role=role))
    assert phases(build)[2:] == [("PROVISIONING", "FAILED"), ("FINALIZING", "SUCCEEDED"), ("COMPLETED", None)]
    assert phase(build, "PROVISIONING")["contexts"] == [{
        "statusCode": "CLIENT_ERROR", "message": f"CodeBuild is not authorized to perform: sts:AssumeRole on {role}"}]


def test_a_role_without_logs_grants_fails_provisioning_with_access_denied(clients, project):
    role = narrow_role(clients, "no-logs", [SOURCE_READ])
    build = run(clients, project("no-logs", {"buildspec.yml": spec("true")}, artifacts=NO_ARTIFACTS, role=role))
    context = phase(build, "PROVISIONING")["contexts"][0]
    assert context["statusCode"] == "ACCESS_DENIED"
    assert context["message"].startswith(f"Service role {role} does not allow AWS CodeBuild to create Amazon "
                                         f"CloudWatch Logs log streams for build {build['arn']}. Error message: ")
    assert f"assumed-role/no-logs/AWSCodeBuild-{build['id'].split(':')[1]} is not authorized to perform: logs:" \
        in context["message"]


def test_a_role_that_cannot_read_the_source_fails_download_source(clients, project):
    role = narrow_role(clients, "no-source", [LOGS])
    build = run(clients, project("no-source", {"buildspec.yml": spec("true")}, artifacts=NO_ARTIFACTS, role=role))
    context = phase(build, "DOWNLOAD_SOURCE")["contexts"][0]
    assert context["statusCode"] == "CLIENT_ERROR"
    assert "AccessDenied: User: arn:aws:sts::123456789012:assumed-role/no-source/AWSCodeBuild-" in context["message"]
    assert 'is not authorized to perform: s3:GetObject on resource: "arn:aws:s3:::build-sources-123456789012/' \
           'no-source/source.zip"' in context["message"]
    assert context["message"].endswith("for primary source and source version "
                                       "arn:aws:s3:::build-sources-123456789012/no-source/source.zip")


def test_parameters_and_artifacts_are_read_and_written_as_the_role(clients, project):
    clients("ssm").put_parameter(Name="/build/secret-name", Value="v", Type="String")
    buildspec = textwrap.dedent("""\
        version: 0.2
        env:
          parameter-store:
            NAME: /build/secret-name
        phases:
          build:
            commands:
              - echo "$NAME" > out.txt
        artifacts:
          files: [out.txt]
        """)
    role = narrow_role(clients, "no-ssm", [LOGS, SOURCE_READ])
    build = run(clients, project("no-ssm", {"buildspec.yml": buildspec}, role=role))
    context = phase(build, "DOWNLOAD_SOURCE")["contexts"][0]
    assert context["statusCode"] == "Decrypted Variables Error"
    assert context["message"].startswith("AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/no-ssm/")
    assert "is not authorized to perform: ssm:GetParameters on resource: arn:aws:ssm:us-east-1:123456789012:" \
           "parameter/build/secret-name" in context["message"]

    ssm = {"Effect": "Allow", "Action": "ssm:GetParameters", "Resource": "*"}
    role = narrow_role(clients, "no-upload", [LOGS, SOURCE_READ, ssm])
    build = run(clients, project("no-upload", {"buildspec.yml": buildspec}, role=role))
    assert phases(build)[-4:-2] == [("POST_BUILD", "SUCCEEDED"), ("UPLOAD_ARTIFACTS", "FAILED")]
    message = phase(build, "UPLOAD_ARTIFACTS")["contexts"][0]["message"]
    assert message.startswith("Error uploading artifacts: AccessDenied: User: ")
    assert "is not authorized to perform: s3:PutObject" in message

    missing = project("missing-parameter", {"buildspec.yml": buildspec.replace("/build/secret-name", "/nope")})
    assert phase(run(clients, missing), "DOWNLOAD_SOURCE")["contexts"] == [{
        "statusCode": "Decrypted Variables Error", "message": "parameter does not exist: /nope"}]


def test_the_role_is_the_one_the_build_record_names(clients, project):
    build = run(clients, project("recorded", {"buildspec.yml": spec("true")}, artifacts=NO_ARTIFACTS))
    assert build["serviceRole"] == CODEBUILD_ROLE
