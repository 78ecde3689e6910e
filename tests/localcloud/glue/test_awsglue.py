"""awsglue.utils.getResolvedOptions as AWS documents it ("Accessing parameters using getResolvedOptions") and as
Glue's library resolves: required names, Glue's own arguments, reserved names, bookmark options."""

import importlib

import pytest

from mlops_workshop.localcloud.glue.environment import PYTHON_SHELL

# sys.argv as Glue starts a Python-shell script.
GLUE_ARGV = ["/tmp/glue-python-scripts-1/script.py", "--job-bookmark-option", "job-bookmark-disable",
             "--scriptLocation", "s3://scripts/script.py", "--JOB_ID", "j_1", "--JOB_RUN_ID", "jr_1",
             "--JOB_NAME", "my_test_Job"]


@pytest.fixture
def utils(monkeypatch):
    monkeypatch.syspath_prepend(str(PYTHON_SHELL))
    for name in ("awsglue", "awsglue.job", "awsglue.utils"):
        monkeypatch.delitem(importlib.sys.modules, name, raising=False)
    return importlib.import_module("awsglue.utils")


def test_the_documented_example_resolves_the_run_arguments(utils):
    argv = GLUE_ARGV + ["--day_partition_key", "partition_0", "--hour_partition_key", "partition_1",
                        "--day_partition_value", "2026-12-01", "--hour_partition_value", "07"]
    args = utils.getResolvedOptions(argv, ["JOB_NAME", "day_partition_key", "hour_partition_key",
                                           "day_partition_value", "hour_partition_value"])
    assert args["JOB_NAME"] == "my_test_Job"
    assert args["day_partition_key"] == "partition_0" and args["hour_partition_value"] == "07"
    assert args["JOB_ID"] == "j_1" and args["JOB_RUN_ID"] == "jr_1"
    assert args["job_bookmark_option"] == "job-bookmark-disable"
    for absent in ("SECURITY_CONFIGURATION", "job_bookmark_from", "job_bookmark_to", "encryption_type",
                   "enable_data_lineage", "TempDir", "RedshiftTempDir"):
        assert args[absent] is None
    assert "scriptLocation" not in args and "continuation_option" not in args


def test_values_after_an_equals_sign_dashes_in_names_and_unasked_arguments(utils):
    args = utils.getResolvedOptions(GLUE_ARGV + ["--input-path=s3://in/x.csv", "--other", "ignored"],
                                    ["input-path"])
    assert args["input_path"] == "s3://in/x.csv"
    assert "other" not in args


def test_a_missing_argument_raises_glues_argument_error(utils):
    with pytest.raises(utils.GlueArgumentError, match="the following arguments are required: --OUTPUT_BUCKET"):
        utils.getResolvedOptions(GLUE_ARGV, ["JOB_NAME", "OUTPUT_BUCKET"])


@pytest.mark.parametrize("name, shown", [("job-bookmark-option", "job-bookmark-option"),
                                         ("continuation-option", "continuation-option"),
                                         ("job-bookmark-from", "--job-bookmark-from"),
                                         ("--JOB_RUN_ID", "--JOB_RUN_ID"), ("--encryption-type", "--encryption-type")])
def test_reserved_names_are_refused(utils, name, shown):
    with pytest.raises(RuntimeError, match=f"^Using reserved arguments {shown}$"):
        utils.getResolvedOptions(GLUE_ARGV, [name])


def test_temp_dirs_mirror_each_other(utils):
    assert utils.getResolvedOptions(GLUE_ARGV + ["--TempDir", "s3://tmp/"], [])["RedshiftTempDir"] == "s3://tmp/"
    args = utils.getResolvedOptions(GLUE_ARGV + ["--RedshiftTempDir", "s3://rs/"], ["TempDir"])
    assert args["TempDir"] == "s3://rs/"


def test_bookmark_options_old_continuations_and_ranges(utils):
    argv = GLUE_ARGV[:1] + ["--continuation-option", "continuation-enabled"]
    assert utils.getResolvedOptions(argv, [])["job_bookmark_option"] == "job-bookmark-enable"
    with pytest.raises(utils.GlueArgumentError, match="invalid choice"):
        utils.getResolvedOptions(GLUE_ARGV[:1] + ["--job-bookmark-option", "sometimes"], [])
    both = ["--job-bookmark-from", "a", "--job-bookmark-to", "b"]
    with pytest.raises(RuntimeError, match=r"^Invalid option\(s\)--job-bookmark-from --job-bookmark-to$"):
        utils.getResolvedOptions(GLUE_ARGV + both, [])
    paused = GLUE_ARGV[:1] + ["--job-bookmark-option", "job-bookmark-pause"]
    assert utils.getResolvedOptions(paused + both, [])["job_bookmark_from"] == "a"
    with pytest.raises(RuntimeError, match="^Missing option or value for --job-bookmark-to$"):
        utils.getResolvedOptions(paused + both[:2], [])


def test_a_python_shell_has_no_spark_job(monkeypatch, utils):
    job = importlib.import_module("awsglue.job")
    with pytest.raises(RuntimeError, match="only Spark jobs"):
        job.Job(None)
    with pytest.raises(ImportError):
        importlib.import_module("awsglue.context")
