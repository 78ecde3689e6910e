"""Reads the trained model out of model.tar.gz and says whether its error is under the threshold."""
import io
import json
import tarfile
from urllib.parse import urlparse

import boto3

s3 = boto3.client("s3")


def handler(event, context):
    location = urlparse(event["model_artifacts"])
    body = s3.get_object(Bucket=location.netloc, Key=location.path.lstrip("/"))["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as archive:
        model = json.load(archive.extractfile("model.json"))
    threshold = float(event.get("threshold", 1.0))
    return {"rmse": model["rmse"], "threshold": threshold, "passed": model["rmse"] <= threshold,
            "trained_on": model["rows"]}
