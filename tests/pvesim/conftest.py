"""Fixtures: a fresh pvesim per test and proxmoxer clients for it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pvesim.testing import PveSim, start_pvesim


@pytest.fixture
def sim() -> Iterator[PveSim]:
    """Start a default simulator (sv1…sv5, zero-length tasks) on 127.0.0.1."""
    with start_pvesim() as running:
        yield running


@pytest.fixture
def px(sim: PveSim) -> Any:
    """Return a token-authenticated proxmoxer client with certificate verification."""
    return sim.proxmox()
