#!/usr/bin/env bash
# Runs CloudFaster on the embedded defaults (SQLite in ./cloudfaster-data, operations in-process).
# Extra arguments go to `cloudfaster serve`, e.g. scripts/run.sh --port 9000.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$repo/scripts/bootstrap.sh"
exec "$repo/.venv/bin/cloudfaster" serve "$@"
