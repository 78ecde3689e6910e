"""Writes the execution's raw rows (label, then two measurements) to the data bucket."""
import csv
import io
import os
import random

import boto3

s3 = boto3.client("s3")
BUCKET = os.environ["DATA_BUCKET"]


def make_rows(count, seed):
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        width, height = round(rng.uniform(0.1, 0.9), 3), round(rng.uniform(0.1, 0.9), 3)
        rows.append([round(10 * width + 5 * height, 3), width, height])
    return rows


def handler(event, context):
    count = int(event.get("rows", 50))
    if count < 1:
        raise ValueError(f"rows must be at least 1, not {count}")
    out = io.StringIO()
    csv.writer(out).writerows(make_rows(count, event.get("seed", 1)))
    key = f"raw/{event['run']}/rows.csv"
    s3.put_object(Bucket=BUCKET, Key=key, Body=out.getvalue().encode())
    return {"bucket": BUCKET, "key": key, "rows": count}
