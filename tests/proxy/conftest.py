"""Fixtures of the proxy client's tests: a real Caddy process per test (scripts/rig.sh installs Debian's caddy)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cloudfaster.proxy.process import CaddyProcess
from tests.proxy.support import start_caddy


@pytest.fixture
def caddy(tmp_path: Path) -> Iterator[CaddyProcess]:
    """A running Caddy with only its admin API configured; killed afterwards."""
    process = start_caddy(tmp_path / "caddy")
    try:
        yield process
    finally:
        process.kill()
