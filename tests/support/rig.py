"""Reaching the test rig's parts: skip where a part is missing on a laptop, fail where CI=true."""

from __future__ import annotations

import os
import socket

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something listens on host:port."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require(available: bool, what: str) -> None:
    """Skip (laptop) or fail (CI) when a component of the rig is missing."""
    if available:
        return
    message = f"{what} is not available (run scripts/rig.sh)"
    if IN_CI:
        pytest.fail(message + " — required in CI")
    pytest.skip(message)
