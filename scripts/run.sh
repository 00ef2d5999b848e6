#!/usr/bin/env bash
# Runs CloudFaster on the embedded defaults (SQLite in the data directory, operations in-process), after installing
# only what running needs (scripts/bootstrap.sh run).
# Extra arguments go to `cloudfaster serve`, e.g. scripts/run.sh --port 9000.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$repo/scripts/bootstrap.sh" run
exec "$repo/.venv/bin/cloudfaster" serve "$@"
