"""What the pipeline stack needs in S3 before it is created: the Lambda code packages and the raw data set.

Each folder lambdas/<Name>/ with a lambda.py becomes s3://<artifact bucket>/<prefix>/<Name>.zip, the key the
stack's LambdaCodePrefix parameter points at; the abalone CSV goes to the data bucket at WorkshopNames.raw_data_key.
A function that imports a shared module (`import pipeline_jobs`) gets that module of this library at the root of
its package, beside its lambda.py: one copy of the code in the repository, and a package holds only what its
function runs.
"""

from __future__ import annotations

import ast
import io
import os
import zipfile
from pathlib import Path

from mlops_workshop import REPO_ROOT

LAMBDAS_DIR = REPO_ROOT / "lambdas"
HANDLER_FILE = "lambda.py"
# The modules of this library a function may import by name, each copied into the packages of the functions that do.
SHARED_MODULES = {"pipeline_jobs": Path(__file__).with_name("pipeline_jobs.py")}
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


def imported_modules(tree: ast.AST) -> set[str]:
    """The top-level names a module's absolute imports name (`import a.b` and `from a import b` give "a")."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def package_contents(folder: str | os.PathLike) -> dict[str, bytes]:
    """{name in the zip: bytes} of one function: its folder's files, and the shared modules its code imports."""
    folder = Path(folder)
    handler = folder / HANDLER_FILE
    if not handler.is_file():
        raise FileNotFoundError(f"{folder} has no {HANDLER_FILE}: a Lambda folder needs its handler module there")
    if (folder / "requirements.txt").is_file():
        raise ValueError(
            f"{folder} has a requirements.txt: the packages carry only the function's own code (boto3 comes with "
            "the Lambda runtime), so vendor what else it needs into the folder or drop the file"
        )
    contents, imported = {}, set()
    for path in _package_files(folder):
        name = path.relative_to(folder).as_posix()
        if name.endswith(".py") and name[:-3] in SHARED_MODULES:
            raise ValueError(
                f"{path} has the name of the shared module {SHARED_MODULES[name[:-3]]}, which the build copies "
                "into the packages that import it: use that one, or name this file otherwise"
            )
        contents[name] = path.read_bytes()
        if path.suffix == ".py":
            try:
                tree = ast.parse(contents[name], str(path))
                compile(tree, str(path), "exec")
            except SyntaxError as error:
                raise ValueError(f"{path} does not compile: {error}") from error
            imported |= imported_modules(tree)
    for module in sorted(imported & SHARED_MODULES.keys()):
        contents[f"{module}.py"] = SHARED_MODULES[module].read_bytes()
    return dict(sorted(contents.items()))


def build_package(folder: str | os.PathLike) -> bytes:
    """The zip of one function folder, files at the archive root (the handler is lambda.lambda_handler)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, body in package_contents(folder).items():
            info = zipfile.ZipInfo(name, date_time=ZIP_TIMESTAMP)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, body)
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
