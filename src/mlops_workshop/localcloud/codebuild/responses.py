"""CodeBuild's protocol beyond moto: StartBuild runs the build; BatchGetBuilds and StopBuild see it; CreateProject
keeps the secondary artifacts."""

from __future__ import annotations

from ..protocol import AwsRequest, AwsResponse, BaseResponses
from .exceptions import CodeBuildError


class CodeBuildResponses(BaseResponses):
    def after_create_project(self, req: AwsRequest, status: int, body: bytes) -> None:
        """moto drops a project's secondaryArtifacts; builds upload them, and BatchGetProjects shows them."""
        params = req.json()
        if status == 200 and params.get("secondaryArtifacts"):
            project = self.cloud.backend("codebuild", req.region).codebuild_projects.get(params.get("name"))
            if project is not None:
                project.project_metadata["secondaryArtifacts"] = params["secondaryArtifacts"]
        return None

    def start_build(self, req: AwsRequest) -> AwsResponse:
        params = req.json()
        build = self.service.start_build(
            params.get("projectName", ""), req.region,
            source_type=params.get("sourceTypeOverride"), source_location=params.get("sourceLocationOverride"),
            source_version=params.get("sourceVersion"), buildspec=params.get("buildspecOverride"),
            env_overrides=params.get("environmentVariablesOverride"), artifacts=params.get("artifactsOverride"),
            timeout_minutes=params.get("timeoutInMinutesOverride"))
        return AwsResponse(200, {"build": build.view()})

    def batch_get_builds(self, req: AwsRequest) -> AwsResponse:
        ids = req.json().get("ids") or []
        for build_id in ids:
            _check_id(build_id)
        builds = self.service.builds
        return AwsResponse(200, {"builds": [builds[i].view() for i in ids if i in builds],
                                 "buildsNotFound": [i for i in ids if i not in builds]})

    def stop_build(self, req: AwsRequest) -> AwsResponse:
        build_id = req.json().get("id", "")
        _check_id(build_id)
        build = self.service.builds.get(build_id)
        if build is None:
            raise CodeBuildError("ResourceNotFoundException", f"Build {build_id} does not exist")
        if not build.done.is_set():
            build.stop()
            build.done.wait(30)
        return AwsResponse(200, {"build": build.view()})


def _check_id(build_id: str) -> None:
    """A build id is <project>:<uuid>; CodeBuild refuses another shape before looking it up."""
    if ":" not in build_id:
        raise CodeBuildError("InvalidInputException", "Invalid build ID provided")
