"""Fixtures of the VM suite: a pvesim with short but real task durations, and a CloudFaster app pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from pvesim.config import SimConfig
from pvesim.testing import PveSim, start_pvesim

from tests.support.app import Api, make_settings, running_api
from tests.support.databases import fresh_database

# Short but non-zero: tasks run in the background and are polled, as on a real cluster.
TASK_DURATIONS = {
    "qmclone": 0.4, "qmstart": 0.2, "qmstop": 0.15, "qmshutdown": 0.2, "qmreboot": 0.2, "qmpause": 0.1,
    "qmresume": 0.1, "qmdestroy": 0.15, "resize": 0.15, "qmconfig": 0.1, "vncproxy": 10.0,
}  # fmt: skip


def sim_config() -> SimConfig:
    """The default cluster (sv1…sv5) with the test task durations and no 401 delay."""
    config = SimConfig(auth_failure_delay=0.0, default_task_duration=0.1, agent_start_delay=0.0)
    config.task_durations.update(TASK_DURATIONS)
    return config


def proxmox_settings(sim: PveSim, **overrides: Any) -> dict[str, Any]:
    """CloudFaster's Proxmox settings for a running simulator: every node answers on the same address."""
    values: dict[str, Any] = {
        "nodes": [{"name": name, "host": sim.host, "port": sim.port} for name in sim.cluster.nodes],
        "token_id": sim.token_id,
        "token_secret": sim.token_secret,
        "ca_file": str(sim.ca_file),
        "task_poll_interval_s": 0.05,
        "retry_backoff_s": 0.05,
        "reconcile_interval_s": 3600,
        "schedule_interval_s": 3600,  # tests run the schedule pass themselves
    }
    values.update(overrides)
    return values


@pytest.fixture
def sim() -> Iterator[PveSim]:
    """A fresh simulated cluster per test."""
    with start_pvesim(sim_config()) as running:
        yield running


@pytest.fixture(params=["sqlite"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty SQLite database (tests that need every backend parametrise ``backend`` themselves)."""
    async with fresh_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
async def api(sim: PveSim, database_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    """CloudFaster on a fresh database, pointed at the simulator."""
    settings = make_settings(tmp_path, database_url, proxmox=proxmox_settings(sim))
    async with running_api(settings) as running:
        yield running


@pytest.fixture
async def burst_api(sim: PveSim, database_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    """CloudFaster as in ``api``, with the default lease (60 s): the suite's 3 s lease is for crash tests, and 100
    creates on a loaded 2-core machine can keep a heartbeat waiting longer than that."""
    settings = make_settings(
        tmp_path, database_url, proxmox=proxmox_settings(sim), worker={"lease_s": 60, "sweep_interval_s": 0.5}
    )
    async with running_api(settings) as running:
        yield running
