"""Fixtures of the scale suite: pvesim with short tasks, a fresh MariaDB database, a namespaced Docker side, and
clusters of real processes on RabbitMQ or Redis that are stopped and cleaned up whatever happens."""

from __future__ import annotations

import random
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from pvesim.config import SimConfig
from pvesim.testing import PveSim, start_pvesim

from tests.apps.support import remove_projects
from tests.compose.support import docker_unavailable_reason
from tests.scale.cluster import Cluster, cluster_settings, running_cluster
from tests.scale.figures import FIGURES
from tests.support.databases import fresh_database
from tests.support.rig import port_open, require

TASK_DURATIONS = {"qmclone": 0.6, "qmstart": 0.2, "qmstop": 0.15, "qmdestroy": 0.15, "resize": 0.15, "qmconfig": 0.1}

ClusterFactory = Callable[..., AbstractContextManager[Cluster]]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print every figure the chaos tests and scale tests recorded."""
    if FIGURES:
        terminalreporter.section("scale and chaos figures")
        for line in FIGURES:
            terminalreporter.write_line(line)


@pytest.fixture
def sim() -> Iterator[PveSim]:
    """A fresh simulated cluster (sv1…sv5) with short but real task durations."""
    config = SimConfig(auth_failure_delay=0.0, default_task_duration=0.1)
    config.task_durations.update(TASK_DURATIONS)
    with start_pvesim(config) as running:
        yield running


@pytest.fixture
async def mariadb_url(tmp_path: Path) -> AsyncIterator[str]:
    """An empty MariaDB database, dropped afterwards."""
    async with fresh_database("mariadb", tmp_path) as url:
        yield url


@pytest.fixture
def docker_namespace() -> Iterator[str]:
    """A compose project namespace of its own; every project in it is removed afterwards."""
    reason = docker_unavailable_reason()
    require(reason is None, f"Docker Engine with Compose v2 and the stand-in images ({reason})")
    namespace = "s" + secrets.token_hex(4) + "-"
    try:
        yield namespace
    finally:
        remove_projects("cf-" + namespace)


@pytest.fixture(params=["rabbitmq", "redis"])
def broker(request: pytest.FixtureRequest) -> str:
    """Each shared broker in turn."""
    name: str = request.param
    require(port_open(5672 if name == "rabbitmq" else 6379), f"{name} on 127.0.0.1")
    return name


@pytest.fixture
def make_cluster(sim: PveSim, mariadb_url: str, docker_namespace: str, tmp_path: Path) -> ClusterFactory:
    """Start a cluster: ``with make_cluster(broker, apis=2, workers=2, database_url=None, **settings) as c``."""

    def factory(
        broker: str, *, apis: int = 2, workers: int = 2, database_url: str | None = None, **overrides: Any
    ) -> AbstractContextManager[Cluster]:
        settings = cluster_settings(
            database_url=database_url or mariadb_url,
            broker=broker,
            root=tmp_path,
            sim=sim,
            namespace=docker_namespace,
            port_start=random.randrange(30000, 32600, 100),  # below the ephemeral range (32768+)
        )
        for section, values in overrides.items():
            settings.setdefault(section, {}).update(values)
        return running_cluster(tmp_path, settings, apis=apis, workers=workers)

    return factory
