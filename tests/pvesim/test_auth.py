"""Authentication: API tokens, tickets with CSRF tokens, and 401s as PVE sends them."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
from proxmoxer import AuthenticationError
from pvesim.config import SimConfig
from pvesim.testing import PveSim, start_pvesim

from tests.pvesim.pvesim_helpers import pve_error, raw


def test_token_accepted(px: Any) -> None:
    assert px.version.get()["version"] == "9.1.4"


def test_token_with_space_separator_accepted(sim: PveSim) -> None:
    # Formatter.pm extract_auth_value: `PVEAPIToken(?:=| )`.
    response = raw(sim, "GET", "/version", headers={"Authorization": f"PVEAPIToken {sim.token_id}={sim.token_secret}"})
    assert response.status_code == 200


def test_wrong_token_secret_is_401_with_empty_body(sim: PveSim) -> None:
    px = sim.proxmox(token_value="wrong")
    error = pve_error(lambda: px.version.get(), 401, "Authentication failed!")
    assert error.errors == {"errors": b""}  # proxmoxer's view of an empty (non-JSON) body
    response = raw(sim, "GET", "/version", headers={"Authorization": f"PVEAPIToken={sim.token_id}=nope"})
    assert response.status_code == 401
    assert response.reason == "Authentication failed!"
    assert response.content == b""


def test_missing_credentials_is_no_ticket(sim: PveSim) -> None:
    response = requests.get(f"{sim.base_url}/api2/json/version", verify=str(sim.ca_file), timeout=5)
    assert response.status_code == 401
    assert response.reason == "No ticket"


def test_ticket_login_and_csrf_protected_write(sim: PveSim) -> None:
    px = sim.proxmox(password=sim.root_password)
    assert px.nodes.get()
    upid = px.nodes("sv1").qemu(9000).clone.post(newid=120)
    assert upid.endswith(":root@pam:")


def test_ticket_write_without_csrf_token_is_401(sim: PveSim) -> None:
    login = requests.post(
        f"{sim.base_url}/api2/json/access/ticket",
        data={"username": "root@pam", "password": sim.root_password},
        verify=str(sim.ca_file),
        timeout=5,
    )
    body = login.json()["data"]
    assert body["username"] == "root@pam"
    assert body["ticket"].startswith("PVE:root@pam:")
    cookies = {"PVEAuthCookie": body["ticket"]}
    url = f"{sim.base_url}/api2/json/nodes/sv1/qemu/9000/clone"
    denied = requests.post(url, data={"newid": "130"}, cookies=cookies, verify=str(sim.ca_file), timeout=5)
    assert (denied.status_code, denied.reason) == (401, "Permission denied - invalid csrf token")
    headers = {"CSRFPreventionToken": body["CSRFPreventionToken"]}
    allowed = requests.post(
        url, data={"newid": "130"}, cookies=cookies, headers=headers, verify=str(sim.ca_file), timeout=5
    )
    assert allowed.status_code == 200
    renewed = requests.post(
        f"{sim.base_url}/api2/json/access/ticket",
        data={"username": "root@pam", "password": body["ticket"]},
        verify=str(sim.ca_file),
        timeout=5,
    )
    assert renewed.status_code == 200


def test_forged_ticket_is_authentication_failed(sim: PveSim) -> None:
    cookies = {"PVEAuthCookie": "PVE:root@pam:6B000000::Zm9yZ2Vk"}
    response = requests.get(f"{sim.base_url}/api2/json/version", cookies=cookies, verify=str(sim.ca_file), timeout=5)
    assert (response.status_code, response.reason) == (401, "Authentication failed!")


def test_bad_password(sim: PveSim) -> None:
    with pytest.raises(AuthenticationError):
        sim.proxmox(password="wrong")
    response = requests.post(
        f"{sim.base_url}/api2/json/access/ticket",
        data={"username": "root@pam", "password": "wrong"},
        verify=str(sim.ca_file),
        timeout=5,
    )
    assert (response.status_code, response.reason) == (401, "authentication failure")
    assert response.json() == {"data": None, "message": "authentication failure\n"}


def test_401_delay_is_configurable() -> None:
    config = SimConfig.fast()
    config.auth_failure_delay = 0.4
    with start_pvesim(config) as slow:
        started = time.monotonic()
        response = raw(slow, "GET", "/version", headers={"Authorization": "PVEAPIToken=root@pam!x=y"})
        assert response.status_code == 401
        assert time.monotonic() - started >= 0.4
        started = time.monotonic()
        assert raw(slow, "GET", "/version").status_code == 200
        assert time.monotonic() - started < 0.4
