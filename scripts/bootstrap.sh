#!/usr/bin/env bash
# Creates .venv and installs CloudFaster with its pinned dependencies (requirements.lock); skips the install
# when pyproject.toml and the lock file have not changed since the last one. Sourced by run.sh and test.sh.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=$repo/.venv
python=${PYTHON:-python3}

if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "bootstrap: CloudFaster needs Python 3.11 or newer ($python is $("$python" --version 2>&1))" >&2
  exit 1
fi
if [ ! -x "$venv/bin/python" ]; then
  echo "bootstrap: creating $venv"
  "$python" -m venv "$venv"
fi
stamp=$venv/.cloudfaster-installed
want=$(cat "$repo/pyproject.toml" "$repo/requirements.lock" | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "bootstrap: installing dependencies (pinned by requirements.lock)"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -c "$repo/requirements.lock" -e "$repo[dev,scale]"
  echo "$want" >"$stamp"
fi
