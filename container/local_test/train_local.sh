#!/usr/bin/env bash
# Train in the image as SageMaker would: ./train_local.sh IMAGE [DATA_DIR]
# DATA_DIR holds train.csv and validate.csv as the ETL job writes them; the model lands in ./test_dir/model.
set -euo pipefail
image=${1:?usage: $0 IMAGE [DATA_DIR]}
here=$(cd "$(dirname "$0")" && pwd)
data=${2:-$here/test_dir/input/data/training}
if [ ! -f "$data/train.csv" ] || [ ! -f "$data/validate.csv" ]; then
  echo "$data must hold train.csv and validate.csv (the ETL job's training/ output); give the folder as DATA_DIR" >&2
  exit 1
fi
data=$(cd "$data" && pwd)
mkdir -p "$here/test_dir/model" "$here/test_dir/output" "$here/test_dir/input/config"
[ -f "$here/test_dir/input/config/hyperparameters.json" ] || \
  python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["HyperParameters"]))' \
    "$here/../trainingjob.json" > "$here/test_dir/input/config/hyperparameters.json"
rm -rf "$here/test_dir/model"/* "$here/test_dir/output"/*
docker run --rm \
  -v "$here/test_dir/input/config:/opt/ml/input/config:ro" \
  -v "$data:/opt/ml/input/data/training:ro" \
  -v "$here/test_dir/model:/opt/ml/model" \
  -v "$here/test_dir/output:/opt/ml/output" \
  "$image" train
