"""Fixtures of the CLI and SDK acceptance tests: one real server for the package (pvesim, SQLite, Docker)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from pvesim.config import SimConfig
from pvesim.testing import PveSim, start_pvesim

from tests.apps.support import remove_projects
from tests.cli.server import Server, running_server
from tests.compose.support import docker_unavailable_reason
from tests.support.rig import require

# Slow enough that a terminal shows the steps while they run, quick enough for the suite.
TASK_DURATIONS = {"qmclone": 1.5, "qmstart": 0.5, "qmstop": 0.2, "qmdestroy": 0.2, "resize": 0.3, "qmconfig": 0.1}


@pytest.fixture(scope="package")
def sim() -> Iterator[PveSim]:
    """A simulated cluster with short but real task durations."""
    config = SimConfig(auth_failure_delay=0.0, default_task_duration=0.1)
    config.task_durations.update(TASK_DURATIONS)
    with start_pvesim(config) as running:
        yield running


@pytest.fixture(scope="package")
def server(sim: PveSim, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real CloudFaster server subprocess with a registered user."""
    reason = docker_unavailable_reason()
    require(reason is None, f"Docker Engine with Compose v2 and the stand-in images ({reason})")
    namespace = "c" + secrets.token_hex(4) + "-"
    root: Path = tmp_path_factory.mktemp("cf-server")
    try:
        with running_server(root, sim, namespace) as running:
            yield running
    finally:
        remove_projects("cf-" + namespace)
