#!/usr/bin/env bash
# The test command: brings up the test rig, then lint (ruff), types (mypy strict), the layer contracts
# (import-linter) and the tests (pytest).
# With CI=true a missing rig component fails the run instead of skipping. Extra arguments go to pytest.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
scripts/bootstrap.sh test
bash scripts/rig.sh
bin=$repo/.venv/bin

echo "== ruff"
"$bin/ruff" check .
"$bin/ruff" format --check .
echo "== mypy"
"$bin/mypy"
echo "== import-linter (the layers of docs/architecture.md)"
"$bin/lint-imports"
echo "== pytest"
status=0
"$bin/pytest" "$@" || status=$?
if [ "$status" = 5 ]; then
  echo "pytest collected no tests" >&2
  exit 1
fi
exit "$status"
