"""mlops_workshop.repository_validation against moto: what passes after creation, what fails and its fix."""

import io

import pytest

from mlops_workshop import repository_validation as rv
from mlops_workshop.config import WorkshopNames

NAMES = WorkshopNames()


def by_name(checks):
    return {(check.name, check.resource): check for check in checks}


def failed(checks):
    return {check.name for check in checks if check.passed is False}


def test_everything_passes_after_creation(aws):
    created = rv.create_repositories(NAMES, aws)
    assert set(created.values()) == {"created"}
    assert len(created) == 4

    checks = rv.validate_repositories(NAMES, aws)

    assert failed(checks) == set()
    names = {check.name for check in checks}
    assert {"data bucket versioning", "artifact bucket blocks public access", "image repository scans on push"} <= names
    branches = [check for check in checks if check.name.startswith("code repository branch")]
    # moto hosts no git, so the branches cannot be checked there; that is not a failure.
    assert [check.passed for check in branches] == [None, None, None]
    assert all("not checked" in check.detail for check in branches)


def test_creating_twice_changes_nothing(aws):
    rv.create_repositories(NAMES, aws)
    again = rv.create_repositories(NAMES, aws)
    assert set(again.values()) == {"existed"}
    assert failed(rv.validate_repositories(NAMES, aws)) == set()


def test_nothing_there_fails_with_a_fix_for_each(aws):
    checks = rv.validate_repositories(NAMES, aws)
    assert failed(checks) == {
        "data bucket exists",
        "artifact bucket exists",
        "code repository exists",
        "image repository exists",
    }
    assert all("--create" in check.fix for check in checks if check.passed is False)


def test_missing_settings_are_named_with_their_fix(aws):
    s3, ecr = aws.client("s3"), aws.client("ecr")
    for bucket in (NAMES.data_bucket, NAMES.artifact_bucket):
        s3.create_bucket(Bucket=bucket)
    s3.put_public_access_block(
        Bucket=NAMES.artifact_bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": False,
            "RestrictPublicBuckets": True,
        },
    )
    aws.client("codecommit").create_repository(repositoryName=NAMES.code_repo_name)
    ecr.create_repository(repositoryName=NAMES.image_repo_name, imageTagMutability="IMMUTABLE")

    checks = by_name(rv.validate_repositories(NAMES, aws))

    data, artifact = f"s3://{NAMES.data_bucket}", f"s3://{NAMES.artifact_bucket}"
    encryption = checks[("data bucket default encryption", data)]
    assert encryption.passed is False and "put-bucket-encryption" in encryption.fix
    public = checks[("artifact bucket blocks public access", artifact)]
    assert public.passed is False and public.detail == "off: BlockPublicPolicy"
    assert "put-public-access-block" in public.fix
    versioning = checks[("artifact bucket versioning", artifact)]
    assert versioning.passed is False and "Status=Enabled" in versioning.fix
    scan = checks[("image repository scans on push", f"ecr:{NAMES.image_repo_name}")]
    assert scan.passed is False and "scanOnPush=true" in scan.fix
    mutability = checks[("image repository tag mutability", f"ecr:{NAMES.image_repo_name}")]
    assert mutability.passed is False and "IMMUTABLE" in mutability.detail and "MUTABLE" in mutability.fix

    rv.create_repositories(NAMES, aws)
    assert failed(rv.validate_repositories(NAMES, aws)) == set()


def test_the_report_shows_what_to_fix(aws):
    rv.create_repositories(NAMES, aws)
    aws.client("s3").delete_bucket_encryption(Bucket=NAMES.data_bucket)
    out = io.StringIO()

    ok = rv.print_report(rv.validate_repositories(NAMES, aws), file=out)

    text = out.getvalue()
    assert ok is False
    assert "FAIL  data bucket default encryption" in text
    assert "PASS  artifact bucket versioning" in text
    assert "1 failed, 3 not checked here" in text
    assert (
        f"To fix:\n1. data bucket default encryption (s3://{NAMES.data_bucket}): aws s3api put-bucket-encryption"
        in text
    )


def test_without_codecommit(aws):
    rv.create_repositories(NAMES, aws, with_codecommit=False)
    checks = rv.validate_repositories(NAMES, aws, with_codecommit=False)
    assert failed(checks) == set()
    assert not any(check.resource.startswith("codecommit:") for check in checks)


def test_the_command(aws, capsys):
    assert rv.main([]) == 1
    assert "To fix:" in capsys.readouterr().out
    assert rv.main(["--create"]) == 0
    out = capsys.readouterr().out
    assert f"created  s3://{NAMES.data_bucket}" in out and "0 failed" in out


@pytest.mark.parametrize(
    "error, expected",
    [
        (NotImplementedError("The get_branch action has not been implemented"), True),
        (
            rv.ClientError(
                {"Error": {"Code": "InternalError"}, "ResponseMetadata": {"HTTPStatusCode": 500}}, "GetBranch"
            ),
            True,
        ),
        (
            rv.ClientError(
                {"Error": {"Code": "BranchDoesNotExistException"}, "ResponseMetadata": {"HTTPStatusCode": 400}},
                "GetBranch",
            ),
            False,
        ),
    ],
)
def test_an_unimplemented_call_is_told_from_a_failure(error, expected):
    assert rv._unsupported(error) is expected
