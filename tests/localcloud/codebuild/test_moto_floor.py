"""What moto's own tests found: /moto-api/reset stops the builds that run and forgets them (a project created again
after it starts from build number 1 and knows none of the old builds); build ids of the wrong shape are refused."""

import urllib.request

import pytest
from botocore.exceptions import ClientError

from testkit.localcloud import CODEBUILD_ROLE, service_role, zip_of
from testkit.waiting import wait_for

SLEEPING = "version: 0.2\nphases:\n  build:\n    commands:\n      - sleep 120\n"


def reset(cloud) -> None:
    request = urllib.request.Request(f"{cloud.endpoint_url}/moto-api/reset", data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200


def project(clients) -> None:
    """The project and what it needs, as a reset leaves none of them: its source and its service role."""
    service_role(clients, CODEBUILD_ROLE, "codebuild.amazonaws.com")
    clients("s3").create_bucket(Bucket="reset-sources")
    clients("s3").put_object(Bucket="reset-sources", Key="src.zip", Body=zip_of({"buildspec.yml": SLEEPING}))
    clients("codebuild").create_project(
        name="resettable", source={"type": "S3", "location": "reset-sources/src.zip"},
        serviceRole=CODEBUILD_ROLE, artifacts={"type": "NO_ARTIFACTS"},
        environment={"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0",
                     "computeType": "BUILD_GENERAL1_SMALL"})


def test_a_reset_stops_the_running_builds_and_forgets_them(cloud, clients):
    cb = clients("codebuild")
    project(clients)
    old = cb.start_build(projectName="resettable")["build"]["id"]
    wait_for(lambda: cb.batch_get_builds(ids=[old])["builds"][0]["currentPhase"] == "BUILD", 30, what="the build")
    running = cloud.service("codebuild").builds[old]

    reset(cloud)

    assert running.done.wait(30), "the build still runs after the reset"
    project(clients)
    new = cb.start_build(projectName="resettable")["build"]
    assert new["buildNumber"] == 1
    assert cb.list_builds_for_project(projectName="resettable")["ids"] == [new["id"]]
    assert cb.batch_get_builds(ids=[old])["buildsNotFound"] == [old]
    cb.stop_build(id=new["id"])


def test_a_build_id_not_shaped_project_colon_uuid_is_invalid_input(clients):
    cb = clients("codebuild")
    for call in (lambda: cb.batch_get_builds(ids=["some_project-1234"]), lambda: cb.stop_build(id="some_project")):
        with pytest.raises(ClientError) as error:
            call()
        assert error.value.response["Error"]["Code"] == "InvalidInputException"
        assert error.value.response["Error"]["Message"] == "Invalid build ID provided"
    assert cb.batch_get_builds(ids=["gone:0f1e2d3c"])["buildsNotFound"] == ["gone:0f1e2d3c"]
