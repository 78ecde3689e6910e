"""etl/preprocess.py, the Glue Python-shell job, against S3 (moto): outputs, split, arguments and bad input."""

import ast
import io

import boto3
import numpy as np
import pandas as pd
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from mlops_workshop import data

from mlops_workshop.config import WorkshopNames

NAMES = WorkshopNames()
INPUT_BUCKET = NAMES.data_bucket
OUTPUT_BUCKET = NAMES.artifact_bucket
RAW_KEY = NAMES.raw_data_key
OUTPUT_PREFIX = "exec-1/input"

OUTPUTS = ["baseline/baseline.csv", "testing/test.csv", "training/train.csv", "training/validate.csv"]
GOOD_ROW = "M,0.455,0.365,0.095,0.514,0.2245,0.101,0.15,15"
GLUE_EXTRA_ARGUMENTS = [
    "--JOB_ID", "j_0123456789abcdef",
    "--JOB_RUN_ID", "jr_0123456789abcdef",
    "--job-bookmark-option", "job-bookmark-disable",
    "--JOB_NAME", "abalone-preprocess",
    "--enable-metrics",
    "--job-language", "python",
    "--PIPELINE_EXECUTION_ID", "exec-1",
]


@pytest.fixture(scope="module")
def mocked_s3():
    # One moto S3 for the module, emptied after each test: starting moto and a client per test costs seconds.
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=INPUT_BUCKET)
        client.create_bucket(Bucket=OUTPUT_BUCKET)
        yield client


@pytest.fixture
def s3(aws_env, mocked_s3):
    yield mocked_s3
    for bucket in (INPUT_BUCKET, OUTPUT_BUCKET):
        for key in keys_under(mocked_s3, bucket):
            mocked_s3.delete_object(Bucket=bucket, Key=key)


@pytest.fixture(scope="module")
def small_csv(raw_frame):
    """The first 300 rows: enough for every split, a tenth of the parsing time of the whole set."""
    return raw_frame.head(300).to_csv(header=False, index=False).encode()


def job_argv(input_prefix=RAW_KEY, output_prefix=OUTPUT_PREFIX, **extra):
    argv = [
        "--S3_INPUT_BUCKET", INPUT_BUCKET,
        "--S3_INPUT_KEY_PREFIX", input_prefix,
        "--S3_OUTPUT_BUCKET", OUTPUT_BUCKET,
        "--S3_OUTPUT_KEY_PREFIX", output_prefix,
    ]
    for name, value in extra.items():
        argv += [f"--{name}", str(value)]
    return argv


def keys_under(client, bucket, prefix=""):
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


def read_object(client, bucket, key):
    return client.get_object(Bucket=bucket, Key=key)["Body"].read()


def read_split(client, name, prefix=OUTPUT_PREFIX):
    body = read_object(client, OUTPUT_BUCKET, f"{prefix}/{name}")
    header = 0 if name.startswith("baseline") else None
    return pd.read_csv(io.BytesIO(body), header=header)


def run_with(preprocess, s3, body, key=RAW_KEY, **args):
    s3.put_object(Bucket=INPUT_BUCKET, Key=key, Body=body)
    return preprocess.main(job_argv(**args))


def test_constants_agree_with_the_library(preprocess):
    assert preprocess.RAW_COLUMNS == list(data.RAW_COLUMNS)
    assert preprocess.FEATURES == list(data.FEATURES)
    assert preprocess.LABEL == data.LABEL
    assert preprocess.SEX_CODES == list(data.SEX_CODES)
    assert preprocess.RAW_FILENAME == data.RAW_FILENAME


def module_constants(path):
    """The upper-case names a module assigns at top level, evaluated without importing it."""
    namespace = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) and t.id.isupper() for t in node.targets):
            try:
                exec(compile(ast.Module(body=[node], type_ignores=[]), str(path), "exec"), namespace)
            except NameError:
                continue  # built from something other than literals and earlier constants
    return namespace


def test_container_constants_agree_with_the_library(repo_root):
    model = repo_root / "container" / "contract.py"
    constants = module_constants(model)
    assert "FEATURES" in constants, "container/contract.py defines no FEATURES to compare with mlops_workshop.data"
    assert list(constants["FEATURES"]) == list(data.FEATURES)
    for name in ("LABEL", "SEX_CODES", "SIZE_COLUMNS", "RAW_COLUMNS"):
        if name in constants:
            assert constants[name] == getattr(data, name) or list(constants[name]) == list(getattr(data, name)), name


def test_job_writes_the_four_outputs_in_the_contract_format(preprocess, s3, raw_csv, raw_frame, capsys):
    summary = run_with(preprocess, s3, raw_csv)
    assert keys_under(s3, OUTPUT_BUCKET) == [f"{OUTPUT_PREFIX}/{name}" for name in OUTPUTS]
    assert (summary["rows"], summary["train"], summary["validate"], summary["test"]) == (4177, 2923, 627, 627)

    splits = {name: read_split(s3, f"{folder}/{name}.csv")
              for folder, name in [("training", "train"), ("training", "validate"), ("testing", "test")]}
    for frame in splits.values():
        assert frame.shape[1] == 1 + len(data.FEATURES)  # rings, then the features
        assert frame[0].dtype == "int64"
        assert frame[[1, 2, 3]].isin([0, 1]).all().all()
        assert (frame[[1, 2, 3]].sum(axis=1) == 1).all()
    assert [len(splits[n]) for n in ("train", "validate", "test")] == [2923, 627, 627]

    # The three splits are the original rows, each exactly once, encoded: nothing lost, nothing made up.
    together = pd.concat(splits.values()).set_axis(["rings"] + list(data.FEATURES), axis=1)
    expected = pd.get_dummies(raw_frame["sex"], prefix="sex").astype("int64")[["sex_F", "sex_I", "sex_M"]]
    expected = pd.concat([raw_frame[["rings"]], expected, raw_frame[list(data.SIZE_COLUMNS)]], axis=1)
    sort = ["rings"] + list(data.FEATURES)
    pd.testing.assert_frame_equal(
        together.sort_values(sort).reset_index(drop=True), expected.sort_values(sort).reset_index(drop=True)
    )

    baseline_text = read_object(s3, OUTPUT_BUCKET, f"{OUTPUT_PREFIX}/baseline/baseline.csv").decode()
    assert baseline_text.splitlines()[0] == ",".join(data.FEATURES)
    baseline = read_split(s3, "baseline/baseline.csv")
    np.testing.assert_array_equal(baseline.to_numpy(), splits["train"].iloc[:, 1:].to_numpy())

    train_text = read_object(s3, OUTPUT_BUCKET, f"{OUTPUT_PREFIX}/training/train.csv").decode()
    assert not train_text.startswith("rings") and "\r" not in train_text
    assert "0.10099999999999999" not in train_text

    out = capsys.readouterr().out
    assert "[preprocess] reading s3://" in out
    assert "2923 train, 627 validate, 627 test" in out
    assert out.count("[preprocess] wrote s3://") == 4


def test_same_seed_gives_the_same_files_and_another_seed_other_files(preprocess, s3, small_csv):
    s3.put_object(Bucket=INPUT_BUCKET, Key=RAW_KEY, Body=small_csv)
    runs = {}
    for prefix, seed in [("a", 7), ("b", 7), ("c", 8)]:
        preprocess.main(job_argv(output_prefix=prefix, SEED=seed))
        runs[prefix] = [read_object(s3, OUTPUT_BUCKET, f"{prefix}/{name}") for name in OUTPUTS]
    assert runs["a"] == runs["b"]
    assert all(x != y for x, y in zip(runs["a"], runs["c"]))


def test_default_seed_is_42(preprocess, s3, small_csv):
    s3.put_object(Bucket=INPUT_BUCKET, Key=RAW_KEY, Body=small_csv)
    preprocess.main(job_argv(output_prefix="default"))
    preprocess.main(job_argv(output_prefix="explicit", SEED=42))
    for name in OUTPUTS:
        assert read_object(s3, OUTPUT_BUCKET, f"default/{name}") == read_object(s3, OUTPUT_BUCKET, f"explicit/{name}")


def test_fractions_set_the_split_sizes(preprocess, s3, raw_csv):
    summary = run_with(preprocess, s3, raw_csv, VALIDATION_FRACTION=0.1, TEST_FRACTION=0.2)
    assert (summary["train"], summary["validate"], summary["test"]) == (2924, 418, 835)


def test_sex_columns_are_always_f_i_m_even_when_a_code_is_absent(preprocess, s3, raw_frame):
    no_infants = raw_frame[raw_frame["sex"] != "I"].head(200)
    run_with(preprocess, s3, no_infants.to_csv(header=False, index=False))
    baseline = read_split(s3, "baseline/baseline.csv")
    assert list(baseline.columns) == list(data.FEATURES)
    assert (baseline["sex_I"] == 0).all()
    assert baseline["sex_F"].sum() > 0 and baseline["sex_M"].sum() > 0
    assert read_split(s3, "training/train.csv").shape[1] == 11


@pytest.mark.parametrize(
    "key, prefix",
    [
        ("input/raw/abalone.csv", "input/raw"),
        ("input/raw/abalone.csv", "input/raw/"),
        ("input/raw/abalone.csv", "input/raw/abalone.csv"),
        ("mine/own-data.CSV", "mine/own-data.CSV"),
        ("abalone.csv", ""),
    ],
)
def test_input_prefix_is_a_folder_holding_abalone_csv_or_the_csv_key(preprocess, s3, small_csv, key, prefix):
    summary = run_with(preprocess, s3, small_csv, key=key, input_prefix=prefix)
    assert summary["rows"] == 300


def test_a_header_row_naming_the_columns_is_skipped(preprocess, s3, small_csv):
    summary = run_with(preprocess, s3, (",".join(data.RAW_COLUMNS) + "\n").encode() + small_csv)
    assert summary["rows"] == 300


def test_output_prefix_slashes_and_the_bucket_root(preprocess, s3, small_csv):
    run_with(preprocess, s3, small_csv, output_prefix="/nested/run/")
    run_with(preprocess, s3, small_csv, output_prefix="")
    keys = keys_under(s3, OUTPUT_BUCKET)
    assert keys == sorted(OUTPUTS + [f"nested/run/{name}" for name in OUTPUTS])


def test_glue_arguments_in_both_forms_and_glue_extras_are_ignored(preprocess):
    argv = GLUE_EXTRA_ARGUMENTS + [
        "--S3_INPUT_BUCKET=in-bucket",
        "--S3_INPUT_KEY_PREFIX", "raw",
        "--S3_OUTPUT_BUCKET", "out-bucket",
        "--S3_OUTPUT_KEY_PREFIX=run/1/",
        "--SEED", "5",
        "--TEST_FRACTION=0.25",
    ]
    args = preprocess.parse_arguments(argv)
    assert args == {
        "S3_INPUT_BUCKET": "in-bucket",
        "S3_INPUT_KEY_PREFIX": "raw",
        "S3_OUTPUT_BUCKET": "out-bucket",
        "S3_OUTPUT_KEY_PREFIX": "run/1",
        "SEED": 5,
        "VALIDATION_FRACTION": 0.15,
        "TEST_FRACTION": 0.25,
    }


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], "missing job argument(s): --S3_INPUT_BUCKET, --S3_INPUT_KEY_PREFIX, --S3_OUTPUT_BUCKET, --S3_OUTPUT_KEY_PREFIX"),
        (job_argv()[:-2], "missing job argument(s): --S3_OUTPUT_KEY_PREFIX"),
        (job_argv()[:-1], "job argument --S3_OUTPUT_KEY_PREFIX has no value"),
        (job_argv(SEED="abc"), "--SEED must be a whole number, got 'abc'"),
        (job_argv(SEED=-1), "--SEED must be between 0 and 4294967295"),
        (job_argv(TEST_FRACTION="half"), "--TEST_FRACTION must be a number, got 'half'"),
        (job_argv(VALIDATION_FRACTION=0), "--VALIDATION_FRACTION must be between 0 and 1"),
        (job_argv(VALIDATION_FRACTION=0.5, TEST_FRACTION=0.5), "sum below 1"),
        (["--S3_INPUT_BUCKET", "s3://bucket/path"] + job_argv()[2:], "--S3_INPUT_BUCKET must be a bucket name"),
    ],
)
def test_bad_arguments_are_refused_with_the_argument_named(preprocess, argv, message):
    with pytest.raises(preprocess.EtlError) as caught:
        preprocess.parse_arguments(argv)
    assert message in str(caught.value)


def replace_cell(column, value):
    cells = GOOD_ROW.split(",")
    cells[data.RAW_COLUMNS.index(column)] = value
    return ",".join(cells)


def good_rows(count=30):
    return [GOOD_ROW.replace("M,", code + ",", 1) for code in "FIM"] * (count // 3)


BAD_INPUTS = {
    "missing columns": ("\n".join(row.rsplit(",", 1)[0] for row in good_rows()), "row 1 has 8 columns, expected 9"),
    "extra column": ("\n".join(good_rows()[:5] + [GOOD_ROW + ",3"] + good_rows()[5:]), "row 6 has 10 columns"),
    "non-numeric value": ("\n".join(good_rows() + [replace_cell("height", "tall")]), "row 31 column height: 'tall' is not a number"),
    "unknown sex code": ("\n".join([replace_cell("sex", "U")] + good_rows()), "row 1 column sex: unknown sex code 'U' (expected one of F, I, M)"),
    "NaN": ("\n".join(good_rows() + [replace_cell("shucked_weight", "nan")]), "row 31 column shucked_weight: value is NaN"),
    "negative size": ("\n".join(good_rows() + [replace_cell("diameter", "-1")]), "row 31 column diameter: negative value -1"),
    "fractional rings": ("\n".join(good_rows() + [replace_cell("rings", "9.5")]), "row 31 column rings: '9.5' is not a whole number"),
    "empty file": ("", "is empty (no data rows)"),
    "blank lines only": ("\n\n  \n", "is empty (no data rows)"),
    "too few rows": ("\n".join(good_rows(3)), "has 3 rows: too few"),
    "binary content": (b"\x89PNG\r\n\x1a\n\xff\xfe", "is not UTF-8 text"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_fails_naming_the_problem_and_writes_nothing(preprocess, s3, case, capsys):
    body, message = BAD_INPUTS[case]
    s3.put_object(Bucket=INPUT_BUCKET, Key=RAW_KEY, Body=body)
    with pytest.raises(preprocess.EtlError) as caught:
        preprocess.main(job_argv())
    assert message in str(caught.value)
    assert f"input s3://{INPUT_BUCKET}/{RAW_KEY} " in str(caught.value)
    assert f"ERROR: {caught.value}" in capsys.readouterr().err
    assert keys_under(s3, OUTPUT_BUCKET) == []


def test_many_bad_rows_are_summarised(preprocess, s3):
    body = "\n".join([replace_cell("sex", "Z")] * 40 + good_rows())
    s3.put_object(Bucket=INPUT_BUCKET, Key=RAW_KEY, Body=body)
    with pytest.raises(preprocess.EtlError, match=r"row 5 column sex: unknown sex code 'Z' .*\(and 35 more\)"):
        preprocess.main(job_argv())


def test_missing_input_object_fails_and_writes_nothing(preprocess, s3):
    with pytest.raises(preprocess.EtlError) as caught:
        preprocess.main(job_argv(input_prefix="nowhere"))
    assert str(caught.value) == f"input s3://{INPUT_BUCKET}/nowhere/abalone.csv does not exist: upload abalone.csv there first"
    assert keys_under(s3, OUTPUT_BUCKET) == []


def test_missing_input_bucket_is_named(preprocess, s3):
    argv = ["--S3_INPUT_BUCKET", "no-such-bucket-here"] + job_argv()[2:]
    with pytest.raises(preprocess.EtlError, match="input bucket no-such-bucket-here does not exist"):
        preprocess.main(argv)


def test_a_write_failing_midway_removes_what_was_written(preprocess, s3, small_csv):
    s3.put_object(Bucket=INPUT_BUCKET, Key=RAW_KEY, Body=small_csv)
    s3.put_object(Bucket=OUTPUT_BUCKET, Key="other-run/keep.csv", Body=b"x")

    class FailingOnTest:
        """The moto client, except that writing the test split is refused."""

        def __getattr__(self, name):
            return getattr(s3, name)

        def put_object(self, **kwargs):
            if kwargs["Key"].endswith("testing/test.csv"):
                raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "PutObject")
            return s3.put_object(**kwargs)

    args = preprocess.parse_arguments(job_argv())
    with pytest.raises(preprocess.EtlError, match=f"cannot write s3://{OUTPUT_BUCKET}/{OUTPUT_PREFIX}/testing/test.csv"):
        preprocess.run(args, s3=FailingOnTest())
    assert keys_under(s3, OUTPUT_BUCKET) == ["other-run/keep.csv"]
