#!/usr/bin/env bash
# Ask the server started by serve_local.sh for predictions: ./predict.sh FILE [CONTENT_TYPE] [ACCEPT]
# FILE holds CSV rows (the 10 features, or the sex letter and 7 measurements) or a JSON document; see ../openapi.yaml.
set -euo pipefail
file=${1:?usage: $0 FILE [text/csv|application/json] [text/csv|application/json]}
content_type=${2:-text/csv}
accept=${3:-$content_type}
curl --fail-with-body --silent --show-error -X POST \
  -H "Content-Type: ${content_type}" -H "Accept: ${accept}" \
  --data-binary @"$file" "http://localhost:${PORT:-8080}/invocations"
