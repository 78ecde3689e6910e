"""What the pipeline stack needs in S3 before it is created: the Lambda code packages and the raw data set.

Each folder lambdas/<Name>/ with a lambda.py becomes s3://<artifact bucket>/<prefix>/<Name>.zip, the key the
stack's LambdaCodePrefix parameter points at; the abalone CSV goes to the data bucket at WorkshopNames.raw_data_key.
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

from mlops_workshop import REPO_ROOT
from mlops_workshop.config import WorkshopNames

LAMBDAS_DIR = REPO_ROOT / "lambdas"
HANDLER_FILE = "lambda.py"
SKIPPED_PARTS = {"__pycache__", ".pytest_cache"}
SKIPPED_SUFFIXES = {".pyc", ".pyo"}
# A fixed timestamp makes a package's bytes depend on its files only, so unchanged code gives an unchanged zip.
ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)


def lambda_names(lambdas_dir: str | os.PathLike = LAMBDAS_DIR) -> list[str]:
    """The functions under lambdas_dir: every folder holding a lambda.py, sorted by name."""
    root = Path(lambdas_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} does not exist: it should hold one folder per Lambda function")
    return sorted(p.name for p in root.iterdir() if p.is_dir() and (p / HANDLER_FILE).is_file())


def _package_files(folder: Path) -> list[Path]:
    files = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if path.is_file() and not SKIPPED_PARTS.intersection(relative.parts) and path.suffix not in SKIPPED_SUFFIXES:
            files.append(path)
    return files


def build_package(folder: str | os.PathLike) -> bytes:
    """The zip of one function folder, files at the archive root (the handler is lambda.lambda_handler)."""
    folder = Path(folder)
    handler = folder / HANDLER_FILE
    if not handler.is_file():
        raise FileNotFoundError(f"{folder} has no {HANDLER_FILE}: a Lambda folder needs its handler module there")
    if (folder / "requirements.txt").is_file():
        raise ValueError(
            f"{folder} has a requirements.txt: the packages carry only the function's own code (boto3 comes with "
            "the Lambda runtime), so vendor what else it needs into the folder or drop the file"
        )
    try:
        compile(handler.read_text(encoding="utf-8"), str(handler), "exec")
    except SyntaxError as error:
        raise ValueError(f"{handler} does not compile: {error}") from error
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in _package_files(folder):
            info = zipfile.ZipInfo(path.relative_to(folder).as_posix(), date_time=ZIP_TIMESTAMP)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


def package_key(name: str, prefix: str = "lambda") -> str:
    return f"{prefix.strip('/')}/{name}.zip" if prefix.strip("/") else f"{name}.zip"


def upload_lambda_packages(
    s3_client,
    bucket: str,
    prefix: str = "lambda",
    lambdas_dir: str | os.PathLike = LAMBDAS_DIR,
    names: list[str] | None = None,
) -> dict[str, str]:
    """Zip and upload each function; returns {name: s3 URI}. Unknown names fail before anything is uploaded."""
    available = lambda_names(lambdas_dir)
    names = available if names is None else list(names)
    unknown = [name for name in names if name not in available]
    if unknown:
        raise ValueError(
            f"No Lambda folder for {', '.join(unknown)} under {lambdas_dir}; there are: {', '.join(available)}"
        )
    packages = {name: build_package(Path(lambdas_dir) / name) for name in names}
    uploaded = {}
    for name, body in packages.items():
        key = package_key(name, prefix)
        s3_client.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/zip")
        uploaded[name] = f"s3://{bucket}/{key}"
    return uploaded


def dataset_csv(source: str | os.PathLike | None = None) -> bytes:
    """The raw data as the pipeline stores it (no header): a user's CSV, checked, or the bundled abalone data."""
    from mlops_workshop import data

    frame = data.load_raw() if source is None else data.read_raw_csv(source)
    return frame.loc[:, list(data.RAW_COLUMNS)].to_csv(header=False, index=False).encode()


def upload_dataset(
    s3_client,
    bucket: str,
    key: str = WorkshopNames.raw_data_key,
    source: str | os.PathLike | None = None,
) -> str:
    """Upload the raw data to the data bucket; a new object there starts a pipeline execution. Returns its URI."""
    s3_client.put_object(Bucket=bucket, Key=key, Body=dataset_csv(source), ContentType="text/csv")
    return f"s3://{bucket}/{key}"


def upload_stack_inputs(s3_client, names: WorkshopNames, source: str | os.PathLike | None = None) -> dict[str, str]:
    """Everything the pipeline stack reads from S3 when it is created, under the workshop's resource names."""
    uploaded = upload_lambda_packages(s3_client, names.artifact_bucket, names.lambda_prefix)
    uploaded["dataset"] = upload_dataset(s3_client, names.data_bucket, names.raw_data_key, source)
    return uploaded
