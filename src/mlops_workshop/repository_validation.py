"""Check (and create) the workshop's data repositories: the two S3 buckets, the CodeCommit and ECR repositories.

    python -m mlops_workshop.repository_validation            # print what passed and what to fix
    python -m mlops_workshop.repository_validation --create   # create what is missing first, then check

A check that the target cannot answer (the local cloud without git hosting has no GetBranch) is reported as
not checked rather than failed.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

import boto3
from botocore.exceptions import ClientError

from mlops_workshop.config import WorkshopNames

ENCRYPTION_ALGORITHMS = ("AES256", "aws:kms", "aws:kms:dsse")
PUBLIC_ACCESS_SETTINGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")


@dataclass(frozen=True)
class Check:
    name: str
    resource: str
    passed: bool | None  # None: this target cannot answer the check
    detail: str
    fix: str = ""


def _code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


def _unsupported(error: Exception) -> bool:
    """The target does not implement the call (moto answers HTTP 500, or raises in-process)."""
    if isinstance(error, NotImplementedError):
        return True
    if isinstance(error, ClientError):
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return status in (500, 501) or _code(error) in ("NotImplemented", "InternalFailure")
    return False


def _bucket_checks(s3, bucket: str, role: str, needs_versioning: bool) -> list[Check]:
    resource = f"s3://{bucket}"
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as error:
        if _code(error) in ("403", "AccessDenied", "Forbidden"):
            return [
                Check(
                    f"{role} bucket exists",
                    resource,
                    False,
                    "the bucket exists but this account cannot use it (bucket names are global)",
                    "bucket names are unique across all accounts: choose another name, or use credentials that own it",
                )
            ]
        return [
            Check(
                f"{role} bucket exists",
                resource,
                False,
                f"not found ({_code(error)})",
                "create it: python -m mlops_workshop.repository_validation --create",
            )
        ]
    checks = [Check(f"{role} bucket exists", resource, True, "found")]

    try:
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
        algorithms = [rule.get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm") for rule in rules]
        encrypted = any(algorithm in ENCRYPTION_ALGORITHMS for algorithm in algorithms)
        detail = ", ".join(filter(None, algorithms)) or "no default algorithm"
    except ClientError as error:
        if _code(error) != "ServerSideEncryptionConfigurationNotFoundError":
            raise
        encrypted, detail = False, "no default encryption configured"
    checks.append(
        Check(
            f"{role} bucket default encryption",
            resource,
            encrypted,
            detail,
            ""
            if encrypted
            else f"aws s3api put-bucket-encryption --bucket {bucket} --server-side-encryption-configuration "
            '\'{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"AES256"}}]}\'',
        )
    )

    try:
        block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        open_settings = [name for name in PUBLIC_ACCESS_SETTINGS if not block.get(name)]
    except ClientError as error:
        if _code(error) != "NoSuchPublicAccessBlockConfiguration":
            raise
        open_settings = list(PUBLIC_ACCESS_SETTINGS)
    checks.append(
        Check(
            f"{role} bucket blocks public access",
            resource,
            not open_settings,
            "all four settings on" if not open_settings else f"off: {', '.join(open_settings)}",
            ""
            if not open_settings
            else f"aws s3api put-public-access-block --bucket {bucket} "
            "--public-access-block-configuration BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,"
            "RestrictPublicBuckets=true",
        )
    )

    if needs_versioning:
        status = s3.get_bucket_versioning(Bucket=bucket).get("Status", "never enabled")
        checks.append(
            Check(
                f"{role} bucket versioning",
                resource,
                status == "Enabled",
                f"{status}; CodePipeline needs versioning on its artifact and S3 source buckets",
                ""
                if status == "Enabled"
                else f"aws s3api put-bucket-versioning --bucket {bucket} --versioning-configuration Status=Enabled",
            )
        )
    return checks


def _codecommit_checks(codecommit, names: WorkshopNames) -> list[Check]:
    repository = names.code_repo_name
    resource = f"codecommit:{repository}"
    try:
        clone_url = codecommit.get_repository(repositoryName=repository)["repositoryMetadata"].get("cloneUrlHttp", "")
    except ClientError as error:
        if _code(error) != "RepositoryDoesNotExistException":
            return [
                Check(
                    "code repository exists",
                    resource,
                    False,
                    f"CodeCommit refused: {_code(error)}",
                    "CodeCommit may be closed to this account: create the pipeline stack with its S3 code source",
                )
            ]
        return [
            Check(
                "code repository exists",
                resource,
                False,
                "not found",
                "create it: python -m mlops_workshop.repository_validation --create",
            )
        ]
    checks = [Check("code repository exists", resource, True, clone_url or "found")]
    for branch in (names.model_branch, names.etl_branch, names.test_branch):
        name = f"code repository branch {branch}"
        try:
            commit = codecommit.get_branch(repositoryName=repository, branchName=branch)["branch"].get("commitId", "")
        except Exception as error:  # noqa: BLE001 - moto raises NotImplementedError in-process
            if _unsupported(error):
                checks.append(Check(name, resource, None, "not checked: this target has no GetBranch"))
                continue
            if isinstance(error, ClientError) and _code(error) == "BranchDoesNotExistException":
                checks.append(
                    Check(
                        name,
                        resource,
                        False,
                        "no such branch",
                        f"push the workshop's code to it: git push {clone_url or '<clone url>'} HEAD:{branch}",
                    )
                )
                continue
            raise
        checks.append(Check(name, resource, True, f"at {commit[:12]}" if commit else "found"))
    return checks


def _ecr_checks(ecr, names: WorkshopNames) -> list[Check]:
    repository = names.image_repo_name
    resource = f"ecr:{repository}"
    try:
        found = ecr.describe_repositories(repositoryNames=[repository])["repositories"][0]
    except ClientError as error:
        if _code(error) != "RepositoryNotFoundException":
            raise
        return [
            Check(
                "image repository exists",
                resource,
                False,
                "not found",
                "create it: python -m mlops_workshop.repository_validation --create",
            )
        ]
    checks = [Check("image repository exists", resource, True, found.get("repositoryUri", "found"))]
    scan = bool(found.get("imageScanningConfiguration", {}).get("scanOnPush"))
    checks.append(
        Check(
            "image repository scans on push",
            resource,
            scan,
            "scanOnPush on" if scan else "scanOnPush off",
            ""
            if scan
            else f"aws ecr put-image-scanning-configuration --repository-name {repository} "
            "--image-scanning-configuration scanOnPush=true",
        )
    )
    mutability = found.get("imageTagMutability", "MUTABLE")
    mutable = mutability == "MUTABLE"
    checks.append(
        Check(
            "image repository tag mutability",
            resource,
            mutable,
            f"{mutability}; every build pushes the tag {names.image_tag_name!r} again",
            ""
            if mutable
            else f"aws ecr put-image-tag-mutability --repository-name {repository} "
            "--image-tag-mutability MUTABLE (or give each build its own ImageTagName)",
        )
    )
    return checks


def validate_repositories(names: WorkshopNames, session=None, with_codecommit: bool = True) -> list[Check]:
    """Every check of the four repositories, in a fixed order."""
    session = session or boto3.session.Session(region_name=names.region)
    s3 = session.client("s3")
    checks = _bucket_checks(s3, names.data_bucket, "data", needs_versioning=True)
    checks += _bucket_checks(s3, names.artifact_bucket, "artifact", needs_versioning=True)
    if with_codecommit:
        checks += _codecommit_checks(session.client("codecommit"), names)
    checks += _ecr_checks(session.client("ecr"), names)
    return checks


def _create_bucket(s3, bucket: str, region: str) -> str:
    taken = RuntimeError(f"Bucket {bucket} belongs to another account (bucket names are global): choose other names")
    try:
        # In us-east-1 CreateBucket succeeds again on one's own bucket, so ask first.
        s3.head_bucket(Bucket=bucket)
        outcome = "existed"
    except ClientError as error:
        if _code(error) in ("403", "AccessDenied", "Forbidden"):
            raise taken from error
        if _code(error) not in ("404", "NoSuchBucket", "NotFound"):
            raise
        request = {"Bucket": bucket}
        if region != "us-east-1":
            request["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            s3.create_bucket(**request)
        except ClientError as create_error:
            if _code(create_error) == "BucketAlreadyExists":
                raise taken from create_error
            raise
        outcome = "created"
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    s3.put_public_access_block(
        Bucket=bucket, PublicAccessBlockConfiguration={name: True for name in PUBLIC_ACCESS_SETTINGS}
    )
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return outcome


def create_repositories(names: WorkshopNames, session=None, with_codecommit: bool = True) -> dict[str, str]:
    """Create the buckets and repositories with the settings the checks expect; existing ones get the settings.

    Returns {resource: "created" | "existed"}. Running it again changes nothing.
    """
    session = session or boto3.session.Session(region_name=names.region)
    s3 = session.client("s3")
    outcome = {}
    for bucket in (names.data_bucket, names.artifact_bucket):
        outcome[f"s3://{bucket}"] = _create_bucket(s3, bucket, names.region)

    if with_codecommit:
        codecommit = session.client("codecommit")
        resource = f"codecommit:{names.code_repo_name}"
        try:
            codecommit.create_repository(
                repositoryName=names.code_repo_name, repositoryDescription="MLOps workshop: model, ETL and test code"
            )
            outcome[resource] = "created"
        except ClientError as error:
            if _code(error) != "RepositoryNameExistsException":
                raise RuntimeError(
                    f"CodeCommit refused to create {names.code_repo_name} ({_code(error)}): it may be closed to this "
                    "account; pass with_codecommit=False and use the pipeline stack's S3 code source"
                ) from error
            outcome[resource] = "existed"

    ecr = session.client("ecr")
    resource = f"ecr:{names.image_repo_name}"
    try:
        ecr.create_repository(
            repositoryName=names.image_repo_name,
            imageScanningConfiguration={"scanOnPush": True},
            imageTagMutability="MUTABLE",
            encryptionConfiguration={"encryptionType": "AES256"},
        )
        outcome[resource] = "created"
    except ClientError as error:
        if _code(error) != "RepositoryAlreadyExistsException":
            raise
        ecr.put_image_scanning_configuration(
            repositoryName=names.image_repo_name, imageScanningConfiguration={"scanOnPush": True}
        )
        ecr.put_image_tag_mutability(repositoryName=names.image_repo_name, imageTagMutability="MUTABLE")
        outcome[resource] = "existed"
    return outcome


def _status(check: Check) -> str:
    return {True: "PASS", False: "FAIL", None: "----"}[check.passed]


def print_report(checks: list[Check], file=None) -> bool:
    """A table of the checks, then what to fix; returns True when nothing failed."""
    file = file or sys.stdout
    headers = ("", "check", "resource", "detail")
    rows = [(_status(check), check.name, check.resource, check.detail) for check in checks]
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(3)]
    for row in [headers, *rows]:
        print(
            "  ".join(value.ljust(width) for value, width in zip(row[:3], widths, strict=False)) + "  " + row[3],
            file=file,
        )
    failed = [check for check in checks if check.passed is False]
    unchecked = [check for check in checks if check.passed is None]
    passed = len(checks) - len(failed) - len(unchecked)
    print(f"\n{passed} passed, {len(failed)} failed, {len(unchecked)} not checked here", file=file)
    if failed:
        print("\nTo fix:", file=file)
        for number, check in enumerate(failed, start=1):
            print(f"{number}. {check.name} ({check.resource}): {check.fix}", file=file)
    return not failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check the workshop's S3 buckets, CodeCommit and ECR repositories.")
    parser.add_argument("--create", action="store_true", help="create what is missing (and apply the settings) first")
    parser.add_argument("--region", help="AWS region (default: the session's, else us-east-1)")
    parser.add_argument(
        "--no-codecommit", action="store_true", help="skip CodeCommit (the pipeline uses its S3 source)"
    )
    args = parser.parse_args(argv)
    from .target import account_session, names_for_session

    session = account_session(args.region)
    names = names_for_session(session)
    if args.create:
        for resource, outcome in create_repositories(names, session, with_codecommit=not args.no_codecommit).items():
            print(f"{outcome:8} {resource}")
        print()
    checks = validate_repositories(names, session, with_codecommit=not args.no_codecommit)
    return 0 if print_report(checks) else 1


if __name__ == "__main__":
    sys.exit(main())
