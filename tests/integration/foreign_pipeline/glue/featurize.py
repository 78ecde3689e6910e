"""Glue Python shell: raw rows to the training channel's features (label, width, height, area)."""
import csv
import io
import sys

import boto3
from awsglue.utils import getResolvedOptions

args = getResolvedOptions(sys.argv, ["JOB_NAME", "input_bucket", "input_key", "output_prefix"])
s3 = boto3.client("s3")

raw = s3.get_object(Bucket=args["input_bucket"], Key=args["input_key"])["Body"].read().decode()
out = io.StringIO()
writer = csv.writer(out)
count = 0
for label, width, height in csv.reader(io.StringIO(raw)):
    writer.writerow([label, width, height, round(float(width) * float(height), 6)])
    count += 1
key = f"{args['output_prefix'].rstrip('/')}/train.csv"
s3.put_object(Bucket=args["input_bucket"], Key=key, Body=out.getvalue().encode())
print(f"{args['JOB_NAME']} ({args['JOB_RUN_ID']}): wrote {count} rows to s3://{args['input_bucket']}/{key}")
