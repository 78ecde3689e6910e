#!/usr/bin/env bash
# Serve the model trained by train_local.sh on port 8080, as a SageMaker endpoint would: ./serve_local.sh IMAGE
# Stop it with Ctrl-C (docker passes SIGTERM on to serve, which stops nginx and gunicorn).
set -euo pipefail
image=${1:?usage: $0 IMAGE}
here=$(cd "$(dirname "$0")" && pwd)
[ -f "$here/test_dir/model/predictor.npz" ] || { echo "no model in $here/test_dir/model: run train_local.sh first" >&2; exit 1; }
exec docker run --rm -p 8080:8080 -v "$here/test_dir/model:/opt/ml/model:ro" "$image" serve
