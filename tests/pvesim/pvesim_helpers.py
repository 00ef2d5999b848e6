"""Assertion helpers shared by the pvesim tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests
from proxmoxer import ResourceException
from proxmoxer.tools import Tasks
from pvesim.testing import PveSim


def pve_error(call: Callable[[], Any], status: int, reason: str) -> Any:
    """Run a proxmoxer call that must fail; check status and reason phrase; return the exception."""
    with pytest.raises(ResourceException) as info:
        call()
    assert info.value.status_code == status, str(info.value)
    assert info.value.content == reason, str(info.value)
    return info.value


def wait(px: Any, upid: str, timeout: float = 10) -> dict[str, Any]:
    """Poll a task until it stops and return its final status."""
    status: dict[str, Any] | None = Tasks.blocking_status(px, upid, timeout=timeout, polling_interval=0.02)
    assert status is not None, f"task {upid} did not finish"
    return status


def raw(sim: PveSim, method: str, path: str, **kwargs: Any) -> requests.Response:
    """Send a request with the API token but without proxmoxer, to look at the raw response."""
    headers = kwargs.pop("headers", {})
    headers.setdefault("Authorization", f"PVEAPIToken={sim.token_id}={sim.token_secret}")
    return requests.request(
        method, f"{sim.base_url}/api2/json{path}", headers=headers, verify=str(sim.ca_file), timeout=10, **kwargs
    )
