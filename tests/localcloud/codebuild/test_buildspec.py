"""Buildspecs read as CodeBuild reads them: versions 0.1 and 0.2, case-sensitive keys, scalars as written, env.shell,
exported variables, artifact names evaluated by the shell, secondary artifacts, and YAML_FILE_ERROR's messages."""

import io
import textwrap
import zipfile

import pytest

from localcloud.codebuild.buildkit import OUTPUTS, build_log, phase, run
from mlops_workshop.localcloud.codebuild.buildspec import parse
from mlops_workshop.localcloud.codebuild.exceptions import BuildError

NO_ARTIFACTS = {"type": "NO_ARTIFACTS"}


@pytest.mark.parametrize("text, message", [
    ("version: 0.2\nPhases:\n  build:\n    commands: [make]\n",
     "unknown key 'Phases' in the buildspec; it takes version, run-as, env, proxy, batch, phases, reports, artifacts, "
     "cache (buildspec keys are case-sensitive)"),
    ("version: 0.3\nphases: {}\n", "invalid buildspec version 0.3: version must be 0.1 or 0.2"),
    ("version: 0.2\nphases:\n  build:\n    commands:\n      - echo: hi\n",
     "Expected Commands[0] to be of string type: found subkeys instead in phase build "
     "(quote a command that holds ': ')"),
    ("version: 0.2\nphases:\n\tbuild: {}\n", "found character '\\t' that cannot start any token at line 3"),
    ("version: 0.2\nenv:\n  shell: zsh\nphases: {}\n", "Unknown shell zsh: Linux builds support bash, /bin/sh"),
    ("version: 0.2\n", "phases is required: a buildspec needs at least one of install, pre_build, build, post_build"),
])
def test_what_is_not_a_buildspec_is_a_yaml_file_error(text, message):
    with pytest.raises(BuildError) as error:
        parse(text, "inline")
    assert (error.value.code, str(error.value)) == ("YAML_FILE_ERROR", message)


def test_scalars_keep_their_text():
    spec = parse("version: 0.2\nphases:\n  install:\n    runtime-versions:\n      python: 3.10\n"
                 "    commands:\n      - yes\nartifacts:\n  discard-paths: yes\n  files: ['*']\n", "inline")
    assert spec.version == "0.2"
    assert spec.phases["install"].runtime_versions == {"python": "3.10"}
    assert spec.phases["install"].commands == ["yes"]
    assert spec.artifacts["discard-paths"] == "yes"


def test_version_0_1_runs_each_command_in_a_shell_of_its_own(clients, project):
    spec = textwrap.dedent("""\
        version: 0.1
        phases:
          build:
            commands:
              - mkdir -p sub && cd sub && export GONE=yes
              - echo "pwd=$(basename "$PWD") gone=${GONE:-no}"
        """)
    build = run(clients, project("v01", {"buildspec.yml": spec}, artifacts=NO_ARTIFACTS))
    assert build["buildStatus"] == "SUCCEEDED"
    assert "pwd=src gone=no" in build_log(build)
    carried = run(clients, project("v02", {"buildspec.yml": spec.replace("0.1", "0.2")}, artifacts=NO_ARTIFACTS))
    assert "pwd=sub gone=yes" in build_log(carried)


def test_sh_shell_continue_on_failure_and_exported_variables(clients, project):
    spec = textwrap.dedent("""\
        version: 0.2
        env:
          shell: /bin/sh
          exported-variables: [KEPT, AWS_SECRET_THING]
        phases:
          pre_build:
            on-failure: CONTINUE
            commands:
              - export KEPT=value
              - export AWS_SECRET_THING=x
              - false
          build:
            commands:
              - echo "build ran after a failed pre_build, succeeding=$CODEBUILD_BUILD_SUCCEEDING"
        """)
    build = run(clients, project("sh-continue", {"buildspec.yml": spec}, artifacts=NO_ARTIFACTS))
    assert build["buildStatus"] == "FAILED"
    assert phase(build, "PRE_BUILD")["phaseStatus"] == "FAILED" and phase(build, "BUILD")["phaseStatus"] == "SUCCEEDED"
    assert "build ran after a failed pre_build, succeeding=0" in build_log(build)
    assert build["exportedEnvironmentVariables"] == [{"name": "KEPT", "value": "value"}]


def test_artifact_names_are_the_shells_when_the_project_lets_the_buildspec_name_them(clients, project):
    spec = textwrap.dedent("""\
        version: 0.2
        phases:
          build:
            commands:
              - echo one > one.txt
              - mkdir -p reports && echo r > reports/r.txt
        artifacts:
          name: build-$CODEBUILD_BUILD_NUMBER-$(echo named)
          files: [one.txt]
          secondary-artifacts:
            Reports:
              base-directory: reports
              files: ['**/*']
        """)
    name = project("named", {"buildspec.yml": spec},
                   artifacts={"type": "S3", "location": OUTPUTS, "path": "named", "packaging": "ZIP",
                              "overrideArtifactName": True},
                   secondaryArtifacts=[{"type": "S3", "location": OUTPUTS, "path": "named", "name": "reports.zip",
                                        "packaging": "ZIP", "artifactIdentifier": "Reports"}])
    build = run(clients, name)
    assert build["buildStatus"] == "SUCCEEDED", build_log(build)[-2000:]
    assert build["artifacts"]["location"] == f"arn:aws:s3:::{OUTPUTS}/named/build-1-named"
    assert build["secondaryArtifacts"] == [{"location": f"arn:aws:s3:::{OUTPUTS}/named/reports.zip"}]
    data = clients("s3").get_object(Bucket=OUTPUTS, Key="named/reports.zip")["Body"].read()
    assert zipfile.ZipFile(io.BytesIO(data)).namelist() == ["r.txt"]


def test_a_buildspec_file_the_source_lacks(clients, project):
    build = run(clients, project("no-spec", {"readme.txt": "no buildspec"}, artifacts=NO_ARTIFACTS))
    context = phase(build, "DOWNLOAD_SOURCE")["contexts"][0]
    assert context["statusCode"] == "YAML_FILE_ERROR"
    assert context["message"].startswith("stat /") and context["message"].endswith(
        "/src/buildspec.yml: no such file or directory")
