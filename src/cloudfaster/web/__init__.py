"""The console pages CloudFaster serves, and where their browser libraries (noVNC, xterm.js) are installed.

The libraries come from npm (package.json and package-lock.json at the repository root, installed by
scripts/bootstrap.sh with `npm ci`) and are served from node_modules as they are.
"""

from __future__ import annotations

from pathlib import Path

PAGES = Path(__file__).resolve().parent
NODE_MODULES = PAGES.parents[2] / "node_modules"
ASSETS = {
    "novnc": NODE_MODULES / "@novnc" / "novnc",
    "xterm": NODE_MODULES / "@xterm" / "xterm",
    "xterm-fit": NODE_MODULES / "@xterm" / "addon-fit",
}


def missing_assets() -> list[str]:
    """The browser libraries that are not installed (run scripts/bootstrap.sh)."""
    return [name for name, path in ASSETS.items() if not (path / "package.json").is_file()]
