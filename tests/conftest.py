"""Fixtures shared by every suite."""

from __future__ import annotations

import pytest

from tests.compose.support import docker_unavailable_reason
from tests.support.rig import require


@pytest.fixture(autouse=True)
def _require_docker(request: pytest.FixtureRequest) -> None:
    """Tests marked ``docker`` skip without a Docker Engine on a laptop, and fail without one in CI."""
    if request.node.get_closest_marker("docker") is not None:
        reason = docker_unavailable_reason()
        require(reason is None, f"Docker Engine with Compose v2 ({reason})")
