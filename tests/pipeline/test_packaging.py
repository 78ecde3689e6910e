"""The Lambda packages: one zip per function folder, the shared module in the packages that import it."""

import ast
import io
import sys
import zipfile
from pathlib import Path

import pytest

from mlops_workshop import REPO_ROOT, packaging
from testkit.lambdas import import_package
from testkit.moto import ARTIFACT_BUCKET

PIPELINE_FUNCTIONS = ["CreateModelGroup", "EtlJobMonitor", "EtlLaunchJob", "TrainingJobMonitor", "TrainingLaunchJob"]
# The functions that import the shared module, and so find it in their packages.
SHARING_FUNCTIONS = ["EtlJobMonitor", "EtlLaunchJob", "TrainingJobMonitor", "TrainingLaunchJob"]
SHARED_MODULE = Path(packaging.__file__).with_name("pipeline_jobs.py")


@pytest.fixture
def lambdas(tmp_path):
    root = tmp_path / "lambdas"
    (root / "Alpha").mkdir(parents=True)
    (root / "Alpha" / "lambda.py").write_text("def lambda_handler(event, context):\n    return {'alpha': event}\n")
    (root / "Alpha" / "helpers.py").write_text("VALUE = 1\n")
    (root / "Alpha" / "__pycache__").mkdir()
    (root / "Alpha" / "__pycache__" / "lambda.cpython-311.pyc").write_bytes(b"\0")
    (root / "Beta").mkdir()
    (root / "Beta" / "lambda.py").write_text("def lambda_handler(event, context):\n    return 'beta'\n")
    (root / "notes").mkdir()
    (root / "notes" / "README.md").write_text("not a function\n")
    return root


def test_every_folder_with_a_handler_is_a_function(lambdas):
    assert packaging.lambda_names(lambdas) == ["Alpha", "Beta"]
    assert set(PIPELINE_FUNCTIONS) <= set(packaging.lambda_names())


def test_a_package_holds_the_folder_at_its_root_without_caches(lambdas):
    archive = zipfile.ZipFile(io.BytesIO(packaging.build_package(lambdas / "Alpha")))
    assert sorted(archive.namelist()) == ["helpers.py", "lambda.py"]


def test_a_package_is_the_same_bytes_for_the_same_code(lambdas):
    before = packaging.build_package(lambdas / "Alpha")
    assert packaging.build_package(lambdas / "Alpha") == before
    (lambdas / "Alpha" / "helpers.py").write_text("VALUE = 2\n")
    assert packaging.build_package(lambdas / "Alpha") != before


def names_in(package):
    return sorted(zipfile.ZipFile(io.BytesIO(package)).namelist())


@pytest.mark.parametrize("name", packaging.lambda_names())
def test_each_package_imports_and_has_its_handler(name, aws_env):
    module = import_package(packaging.build_package(REPO_ROOT / "lambdas" / name), label=name)
    assert callable(module.lambda_handler)


def test_a_function_that_imports_the_shared_module_gets_it_in_its_package(lambdas):
    (lambdas / "Gamma").mkdir()
    (lambdas / "Gamma" / "lambda.py").write_text(
        "import pipeline_jobs\n\n\ndef lambda_handler(event, context):\n    return pipeline_jobs.MAX_APPROVAL_SUMMARY\n"
    )
    package = packaging.build_package(lambdas / "Gamma")
    assert names_in(package) == ["lambda.py", "pipeline_jobs.py"]
    assert zipfile.ZipFile(io.BytesIO(package)).read("pipeline_jobs.py") == SHARED_MODULE.read_bytes()
    assert import_package(package, label="Gamma").lambda_handler({}, None) == 512
    assert names_in(packaging.build_package(lambdas / "Alpha")) == ["helpers.py", "lambda.py"]


def test_the_shared_module_goes_only_to_the_functions_that_import_it():
    for name in packaging.lambda_names():
        has_it = "pipeline_jobs.py" in names_in(packaging.build_package(REPO_ROOT / "lambdas" / name))
        assert has_it == (name in SHARING_FUNCTIONS), name


def test_a_handler_imports_the_shared_module_from_its_own_package(aws_env):
    module = import_package(packaging.build_package(REPO_ROOT / "lambdas" / "EtlJobMonitor"), label="EtlJobMonitor")
    assert Path(module.pipeline_jobs.__file__).parent == Path(module.__file__).parent
    assert Path(module.pipeline_jobs.__file__).read_bytes() == SHARED_MODULE.read_bytes()


def test_a_package_with_the_shared_module_is_the_same_bytes_for_the_same_code(lambdas, tmp_path, monkeypatch):
    (lambdas / "Gamma").mkdir()
    (lambdas / "Gamma" / "lambda.py").write_text("from pipeline_jobs import answer_approval\n")
    before, alpha = packaging.build_package(lambdas / "Gamma"), packaging.build_package(lambdas / "Alpha")
    assert packaging.build_package(lambdas / "Gamma") == before
    for info in zipfile.ZipFile(io.BytesIO(before)).infolist():
        assert info.date_time == packaging.ZIP_TIMESTAMP, info.filename
    changed = tmp_path / "pipeline_jobs.py"
    changed.write_bytes(SHARED_MODULE.read_bytes() + b"\n# changed\n")
    monkeypatch.setitem(packaging.SHARED_MODULES, "pipeline_jobs", changed)
    assert packaging.build_package(lambdas / "Gamma") != before
    assert packaging.build_package(lambdas / "Alpha") == alpha


def test_a_function_may_not_hold_its_own_copy_of_the_shared_module(lambdas):
    (lambdas / "Alpha" / "pipeline_jobs.py").write_text("MAX_APPROVAL_SUMMARY = 1\n")
    with pytest.raises(ValueError, match="has the name of the shared module"):
        packaging.build_package(lambdas / "Alpha")


def test_the_shared_module_needs_only_what_the_lambda_runtime_has():
    """It runs in the packages, beside the handler: the standard library and boto3, nothing of this library."""
    imported = packaging.imported_modules(ast.parse(SHARED_MODULE.read_text(encoding="utf-8")))
    assert imported - set(sys.stdlib_module_names) <= {"boto3", "botocore"}, imported
    assert "from ." not in SHARED_MODULE.read_text(encoding="utf-8")


def test_bad_folders_are_refused_with_the_reason(lambdas):
    with pytest.raises(FileNotFoundError, match="no lambda.py"):
        packaging.build_package(lambdas / "notes")
    (lambdas / "Beta" / "lambda.py").write_text("def lambda_handler(event, context)\n")
    with pytest.raises(ValueError, match="does not compile"):
        packaging.build_package(lambdas / "Beta")
    (lambdas / "Alpha" / "requirements.txt").write_text("requests\n")
    with pytest.raises(ValueError, match="requirements.txt"):
        packaging.build_package(lambdas / "Alpha")
    with pytest.raises(FileNotFoundError, match="should hold one folder per Lambda function"):
        packaging.lambda_names(lambdas / "missing")


def test_upload_puts_each_package_under_the_prefix(aws, lambdas):
    uploaded = packaging.upload_lambda_packages(aws.s3, ARTIFACT_BUCKET, "lambda", lambdas)
    assert uploaded == {
        "Alpha": f"s3://{ARTIFACT_BUCKET}/lambda/Alpha.zip",
        "Beta": f"s3://{ARTIFACT_BUCKET}/lambda/Beta.zip",
    }
    body = aws.s3.get_object(Bucket=ARTIFACT_BUCKET, Key="lambda/Alpha.zip")["Body"].read()
    assert body == packaging.build_package(lambdas / "Alpha")


def test_upload_of_an_unknown_function_uploads_nothing(aws, lambdas):
    with pytest.raises(ValueError, match="No Lambda folder for Gamma"):
        packaging.upload_lambda_packages(aws.s3, ARTIFACT_BUCKET, "lambda", lambdas, names=["Alpha", "Gamma"])
    assert aws.s3.list_objects_v2(Bucket=ARTIFACT_BUCKET).get("KeyCount") == 0
