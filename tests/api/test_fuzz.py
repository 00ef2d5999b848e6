"""Fuzzing the OpenAPI document with schemathesis and all its checks, as an admin and as a user: no server error,
and every response conforms to the documented statuses, headers and schemas."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from cloudfaster.api.app import create_app
from tests.support.app import ADMIN_KEY, make_settings, served

# Small enough for CI (the whole run takes a couple of minutes), large enough to try every route many ways.
MAX_EXAMPLES = "25"
CONFIG = Path(__file__).with_name("schemathesis.toml")


def _user_key(url: str) -> str:
    admin = {"X-API-Key": ADMIN_KEY}
    httpx.post(f"{url}/users", json={"userid": "fuzzer", "username": "Fuzzer"}, headers=admin).raise_for_status()
    made = httpx.post(f"{url}/keys", json={"userid": "fuzzer", "name": "fuzz"}, headers=admin)
    made.raise_for_status()
    key: str = made.json()["key"]
    return key


@pytest.mark.parametrize("who", ["admin", "user"])
def test_schemathesis_finds_no_failure(tmp_path: Path, who: str) -> None:
    settings = make_settings(
        tmp_path,
        f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}",
        logging={"console_format": "plain", "level": "ERROR"},
        # schemathesis sends wrong keys on purpose, and fast: past the limits most answers would be 429s, the logic
        # behind them untested, and which ones would depend on the machine's speed.
        rate_limit={"auth_failures_per_address": "100000/minute", "per_key": "100000/second"},
        docker={"base_path": tmp_path / "services"},
    )
    app = create_app(settings)
    st = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or "schemathesis"
    with served(app) as url:
        key = ADMIN_KEY if who == "admin" else _user_key(url)
        result = subprocess.run(
            [
                st, "--config-file", str(CONFIG), "run", f"{url}/openapi.json",
                "--header", f"X-API-Key: {key}",
                "--checks", "all",
                # Whether schema-valid input is accepted depends on what no schema can say (a real SSH key, an OS
                # with a template, a cursor this API issued, a file in a file field): refused with a 4xx, rightly.
                "--exclude-checks", "positive_data_acceptance",
                "--max-examples", MAX_EXAMPLES,
                "--exclude-path", "/logs/stream",  # an endless stream
                "--seed", "1",
                "--request-timeout", "20",
                "--workers", "1",
            ],
            capture_output=True, text=True, timeout=900,
        )  # fmt: skip
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
