"""Fixtures for the compose client tests: a real Docker Engine with Compose v2 and the stand-in images
(scripts/rig.sh). Tests marked ``docker`` skip with the reason when any of that is missing, except with
``CI=true``, where they fail (the root conftest)."""

from __future__ import annotations

import pytest

from cloudfaster.compose.client import ComposeClient


@pytest.fixture
def compose_client() -> ComposeClient:
    """A real ComposeClient on the default `docker compose`, with a short `up --wait`."""
    return ComposeClient(["docker", "compose"], up_timeout_s=90)
