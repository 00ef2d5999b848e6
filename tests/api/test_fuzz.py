"""Fuzzing the OpenAPI schema with schemathesis finds no server error."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from cloudfaster.api.app import create_app
from tests.support.app import ADMIN_KEY, make_settings, served


def test_schemathesis_finds_no_500(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}",
        logging={"console_format": "plain", "level": "ERROR"},
        # schemathesis sends wrong keys on purpose; past the per-address limit they would all be 429s, untested.
        rate_limit={"auth_failures_per_address": "100000/minute"},
    )
    app = create_app(settings)
    st = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or "schemathesis"
    with served(app) as url:
        result = subprocess.run(
            [
                st, "run", f"{url}/openapi.json",
                "--header", f"X-API-Key: {ADMIN_KEY}",
                "--checks", "not_a_server_error",
                "--max-examples", "40",
                "--exclude-path", "/logs/stream",
                "--seed", "1",
                "--request-timeout", "10",
            ],
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout
