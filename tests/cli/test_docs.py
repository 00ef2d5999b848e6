"""The examples of docs/sdk.md and docs/cli.md, run as written against a real server."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.cli.server import CF, SSH_KEY, Server
from tests.support.rig import require

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _blocks(doc: str, lang: str) -> list[str]:
    text = (DOCS / doc).read_text()
    example = text[text.index("## Example") :]
    return re.findall(rf"```{lang}\n(.*?)```", example, re.S)


def test_the_sdk_examples_run(server: Server) -> None:
    blocks = _blocks("sdk.md", "python")
    assert len(blocks) == 2
    for code in blocks:
        result = subprocess.run(
            [sys.executable, "-c", code], env=server.env(SSH_KEY=SSH_KEY), capture_output=True, text=True, timeout=180
        )
        assert result.returncode == 0, result.stderr
    assert "sdk-demo" not in [v["name"] for v in server.get("/vm").json()["items"] if v["status"] != "deleted"]


def test_the_cli_examples_run(server: Server) -> None:
    require(shutil.which("jq") is not None, "jq")
    lines = [line[2:] for block in _blocks("cli.md", "console") for line in block.splitlines() if line.startswith("$ ")]
    assert len(lines) >= 5
    script = "set -euo pipefail\n" + "\n".join(lines)
    env = server.env(SSH_KEY=SSH_KEY, PATH=f"{CF.parent}:/usr/bin:/bin")
    result = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert '"name": "docs-demo"' in result.stdout
    assert "status: enabled" in result.stdout
