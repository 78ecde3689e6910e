"""AWS Glue Python-shell job: turn the raw abalone CSV into the training, validation, test and baseline sets.

Glue Python shell runs Python 3.9 with boto3, pandas and numpy: keep this file valid Python 3.9 and free of
other dependencies (the tests check). Arguments arrive as Glue passes them, `--NAME value`:

  --S3_INPUT_BUCKET, --S3_INPUT_KEY_PREFIX    where abalone.csv is (a folder holding it, or the .csv key itself)
  --S3_OUTPUT_BUCKET, --S3_OUTPUT_KEY_PREFIX  where training/, testing/ and baseline/ are written
  --SEED (42), --VALIDATION_FRACTION (0.15), --TEST_FRACTION (0.15)

Every row is checked before anything is written; bad input fails the run with a message naming the row and
column, and leaves nothing under the output prefix.
"""

import csv
import io
import math
import sys

import boto3
import numpy as np
import pandas as pd
from botocore.exceptions import BotoCoreError, ClientError

# Copies of mlops_workshop.data's constants: this script runs alone in Glue (a test keeps them in step).
SEX_CODES = ["F", "I", "M"]
SIZE_COLUMNS = [
    "length",
    "diameter",
    "height",
    "whole_weight",
    "shucked_weight",
    "viscera_weight",
    "shell_weight",
]
LABEL = "rings"
RAW_COLUMNS = ["sex"] + SIZE_COLUMNS + [LABEL]
FEATURES = ["sex_" + code for code in SEX_CODES] + SIZE_COLUMNS
RAW_FILENAME = "abalone.csv"

REQUIRED_ARGUMENTS = ["S3_INPUT_BUCKET", "S3_INPUT_KEY_PREFIX", "S3_OUTPUT_BUCKET", "S3_OUTPUT_KEY_PREFIX"]
OPTIONAL_ARGUMENTS = {"SEED": "42", "VALIDATION_FRACTION": "0.15", "TEST_FRACTION": "0.15"}

OUTPUT_KEYS = {
    "train": "training/train.csv",
    "validate": "training/validate.csv",
    "test": "testing/test.csv",
    "baseline": "baseline/baseline.csv",
}
MAX_REPORTED_PROBLEMS = 5


class EtlError(Exception):
    """A failure the job reports as its run's error message."""


def log(message):
    print("[preprocess] " + message, flush=True)


def parse_arguments(argv):
    """Read the job's own arguments from Glue's argv (`--NAME value` or `--NAME=value`), ignoring all others."""
    wanted = set(REQUIRED_ARGUMENTS) | set(OPTIONAL_ARGUMENTS)
    found = {}
    index = 0
    while index < len(argv):
        token = argv[index]
        index += 1
        if not token.startswith("--"):
            continue
        name = token[2:]
        value = None
        if "=" in name:
            name, value = name.split("=", 1)
        elif index < len(argv) and not argv[index].startswith("--"):
            value = argv[index]
            index += 1
        if name not in wanted:
            continue
        if value is None:
            raise EtlError("job argument --{} has no value".format(name))
        found[name] = value

    # A key prefix may be empty (the bucket's root); a bucket name may not.
    missing = [
        name for name in REQUIRED_ARGUMENTS
        if name not in found or (name.endswith("_BUCKET") and not found[name].strip())
    ]
    if missing:
        raise EtlError(
            "missing job argument(s): {} (set them in the job's DefaultArguments or the run's Arguments)".format(
                ", ".join("--" + name for name in missing)
            )
        )
    for name in ("S3_INPUT_BUCKET", "S3_OUTPUT_BUCKET"):
        found[name] = found[name].strip()
        if "/" in found[name] or found[name].startswith("s3:"):
            raise EtlError("--{} must be a bucket name, not a path: {!r}".format(name, found[name]))
    for name in ("S3_INPUT_KEY_PREFIX", "S3_OUTPUT_KEY_PREFIX"):
        found[name] = found[name].strip().strip("/")
    for name, default in OPTIONAL_ARGUMENTS.items():
        found.setdefault(name, default)

    try:
        found["SEED"] = int(found["SEED"])
    except ValueError:
        raise EtlError("--SEED must be a whole number, got {!r}".format(found["SEED"])) from None
    if not 0 <= found["SEED"] < 2 ** 32:
        raise EtlError("--SEED must be between 0 and 4294967295, got {}".format(found["SEED"]))
    for name in ("VALIDATION_FRACTION", "TEST_FRACTION"):
        try:
            found[name] = float(found[name])
        except ValueError:
            raise EtlError("--{} must be a number, got {!r}".format(name, found[name])) from None
        if not 0 < found[name] < 1:
            raise EtlError("--{} must be between 0 and 1, got {}".format(name, found[name]))
    if found["VALIDATION_FRACTION"] + found["TEST_FRACTION"] >= 1:
        raise EtlError("--VALIDATION_FRACTION plus --TEST_FRACTION must leave rows for training (sum below 1)")
    return found


def input_key(prefix):
    """The prefix is a folder holding abalone.csv, or, when it ends in .csv, the object's key itself."""
    if prefix.lower().endswith(".csv"):
        return prefix
    return prefix + "/" + RAW_FILENAME if prefix else RAW_FILENAME


def output_key(prefix, name):
    return prefix + "/" + OUTPUT_KEYS[name] if prefix else OUTPUT_KEYS[name]


def read_input(s3, bucket, key):
    location = "s3://{}/{}".format(bucket, key)
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code in ("NoSuchKey", "404", "NotFound"):
            raise EtlError("input {} does not exist: upload abalone.csv there first".format(location)) from None
        if code == "NoSuchBucket":
            raise EtlError("input bucket {} does not exist".format(bucket)) from None
        raise EtlError("cannot read input {}: {}".format(location, error)) from None
    except BotoCoreError as error:
        raise EtlError("cannot read input {}: {}".format(location, error)) from None
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise EtlError("input {} is not UTF-8 text (byte {})".format(location, error.start)) from None


def parse_raw(text, location):
    """Check every row of the raw CSV; return a DataFrame of RAW_COLUMNS or raise EtlError naming each problem."""
    rows = [(number, row) for number, row in enumerate(csv.reader(io.StringIO(text)), start=1) if has_content(row)]
    if rows and [cell.strip().lower() for cell in rows[0][1]] == RAW_COLUMNS:
        rows = rows[1:]
    if not rows:
        raise EtlError("input {} is empty (no data rows)".format(location))

    problems = []
    records = []
    for number, row in rows:
        record = parse_row(number, row, problems)
        if record is not None:
            records.append(record)
    if problems:
        shown = "; ".join(problems[:MAX_REPORTED_PROBLEMS])
        more = len(problems) - MAX_REPORTED_PROBLEMS
        raise EtlError(
            "input {} does not match the abalone schema: {}{}. Expected {} columns and no header: {}".format(
                location, shown, " (and {} more)".format(more) if more > 0 else "", len(RAW_COLUMNS),
                ", ".join(RAW_COLUMNS),
            )
        )
    frame = pd.DataFrame.from_records(records, columns=RAW_COLUMNS)
    frame[LABEL] = frame[LABEL].astype("int64")
    return frame


def parse_row(number, row, problems):
    if len(row) != len(RAW_COLUMNS):
        problems.append("row {} has {} columns, expected {}".format(number, len(row), len(RAW_COLUMNS)))
        return None
    before = len(problems)
    sex = row[0].strip()
    if sex not in SEX_CODES:
        problems.append(
            "row {} column sex: unknown sex code {!r} (expected one of {})".format(number, sex, ", ".join(SEX_CODES))
        )
    sizes = [parse_number(number, name, cell, problems) for name, cell in zip(SIZE_COLUMNS, row[1:-1])]
    rings = parse_number(number, LABEL, row[-1], problems)
    if rings is not None and rings != int(rings):
        problems.append("row {} column rings: {!r} is not a whole number".format(number, row[-1].strip()))
    if len(problems) > before:
        return None
    return [sex] + sizes + [int(rings)]


def parse_number(number, column, cell, problems):
    value = cell.strip()
    where = "row {} column {}".format(number, column)
    if not value:
        problems.append(where + ": missing value")
        return None
    try:
        parsed = float(value)
    except ValueError:
        problems.append("{}: {!r} is not a number".format(where, value))
        return None
    if math.isnan(parsed):
        problems.append(where + ": value is NaN")
        return None
    if math.isinf(parsed):
        problems.append("{}: value {!r} is not finite".format(where, value))
        return None
    if parsed < 0:
        problems.append("{}: negative value {}".format(where, value))
        return None
    return parsed


def has_content(row):
    return any(cell.strip() for cell in row)


def encode(raw):
    """Rings first, then FEATURES; sex one-hot over the fixed codes F, I, M, whichever appear in this file."""
    encoded = pd.DataFrame({LABEL: raw[LABEL].astype("int64")})
    for code in SEX_CODES:
        encoded["sex_" + code] = (raw["sex"] == code).astype("int64")
    for name in SIZE_COLUMNS:
        encoded[name] = raw[name].astype("float64")
    return encoded[[LABEL] + FEATURES]


def split(encoded, seed, validation_fraction, test_fraction, location):
    count = len(encoded)
    test_count = int(round(count * test_fraction))
    validation_count = int(round(count * validation_fraction))
    if count - test_count - validation_count < 1 or test_count < 1 or validation_count < 1:
        raise EtlError(
            "input {} has {} rows: too few for a training, validation and test split of "
            "{:.0%} / {:.0%} / {:.0%}".format(
                location, count, 1 - validation_fraction - test_fraction, validation_fraction, test_fraction
            )
        )
    train, validate, test = split_positions(count, seed, validation_count, test_count)
    return encoded.iloc[train], encoded.iloc[validate], encoded.iloc[test]


def split_positions(count, seed, validation_count, test_count):
    """The row positions of the train, validate and test splits: one seeded permutation, test rows first."""
    # RandomState's stream is frozen across numpy versions, so a seed gives the same split in Glue and locally.
    order = np.random.RandomState(seed).permutation(count)
    return order[test_count + validation_count:], order[test_count:test_count + validation_count], order[:test_count]


def to_csv_bytes(frame, header):
    # No line-terminator argument: pandas renamed it in 1.5, and Glue's Python 3.9 shell ships an older pandas.
    return frame.to_csv(header=header, index=False).encode("utf-8")


def write_outputs(s3, bucket, files):
    """Put every file; if one fails, delete those already written so the prefix holds no partial output."""
    written = []
    try:
        for key, body in files:
            s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="text/csv")
            written.append(key)
            log("wrote s3://{}/{} ({} bytes)".format(bucket, key, len(body)))
    except (BotoCoreError, ClientError) as error:
        failed = key
        for done in written:
            try:
                s3.delete_object(Bucket=bucket, Key=done)
                log("removed partial output s3://{}/{}".format(bucket, done))
            except (BotoCoreError, ClientError):
                log("could not remove partial output s3://{}/{}".format(bucket, done))
        raise EtlError("cannot write s3://{}/{}: {}".format(bucket, failed, error)) from None


def run(args, s3=None):
    s3 = s3 or boto3.client("s3")
    in_bucket, in_key = args["S3_INPUT_BUCKET"], input_key(args["S3_INPUT_KEY_PREFIX"])
    out_bucket, out_prefix = args["S3_OUTPUT_BUCKET"], args["S3_OUTPUT_KEY_PREFIX"]
    location = "s3://{}/{}".format(in_bucket, in_key)

    log("reading " + location)
    raw = parse_raw(read_input(s3, in_bucket, in_key), location)
    log("{} rows checked; sex counts {}".format(len(raw), raw["sex"].value_counts().sort_index().to_dict()))

    train, validate, test = split(
        encode(raw), args["SEED"], args["VALIDATION_FRACTION"], args["TEST_FRACTION"], location
    )
    log("split with seed {}: {} train, {} validate, {} test".format(args["SEED"], len(train), len(validate), len(test)))

    files = [
        (output_key(out_prefix, "train"), to_csv_bytes(train, header=False)),
        (output_key(out_prefix, "validate"), to_csv_bytes(validate, header=False)),
        (output_key(out_prefix, "test"), to_csv_bytes(test, header=False)),
        (output_key(out_prefix, "baseline"), to_csv_bytes(train[FEATURES], header=True)),
    ]
    write_outputs(s3, out_bucket, files)
    log("done: outputs under s3://{}/{}".format(out_bucket, out_prefix))
    return {
        "rows": len(raw),
        "train": len(train),
        "validate": len(validate),
        "test": len(test),
        "outputs": ["s3://{}/{}".format(out_bucket, key) for key, _ in files],
    }


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    try:
        return run(parse_arguments(argv))
    except EtlError as error:
        # Glue shows the exception as the run's ErrorMessage; stderr keeps it in the job's error log too.
        print("ERROR: {}".format(error), file=sys.stderr, flush=True)
        raise


if __name__ == "__main__":
    main()
