"""Permanent refusals are 409 (or 502), never 503: SPICE without a SPICE display, a stopped or missing VM, an
unknown failure; only what passes by itself (no quorum, a node down) is 503 with Retry-After. Against pvesim."""

from __future__ import annotations

import pytest
from pvesim.testing import PveSim

from tests.support.app import Api
from tests.vms.helpers import create_vm, wait_op


@pytest.fixture
async def vm(api: Api) -> tuple[dict[str, str], int]:
    """Alice's headers and her enabled VM."""
    key = await api.new_user("alice")
    headers = api.as_key(key)
    return headers, (await create_vm(api, headers))["vmid"]


async def test_spice_without_a_spice_display_is_409_not_503(
    api: Api, sim: PveSim, vm: tuple[dict[str, str], int]
) -> None:
    headers, vmid = vm
    got = (await api.client.get(f"/vm/{vmid}", headers=headers)).json()
    assert got["live"]["consoles"] == ["vnc", "term"]  # the template has serial0
    resp = await api.client.post(f"/vm/{vmid}/console", json={"type": "spice"}, headers=headers)
    assert resp.status_code == 409, resp.text  # was 503 proxmox_unavailable with Retry-After: 5
    assert resp.json()["error"]["code"] == "spice_not_available"
    assert "retry-after" not in resp.headers
    sim.call(lambda: sim.cluster.vms[vmid].config.update(vga="qxl"))
    assert (await api.client.get(f"/vm/{vmid}", headers=headers)).json()["live"]["consoles"] == ["vnc", "term", "spice"]
    assert (await api.client.post(f"/vm/{vmid}/console", json={"type": "spice"}, headers=headers)).status_code == 200


async def test_a_stopped_vm_refuses_spice_with_409(api: Api, vm: tuple[dict[str, str], int]) -> None:
    headers, vmid = vm
    stop = await api.client.post(f"/vm/{vmid}/stop", headers=headers)
    await wait_op(api, headers, stop.headers["Location"])
    resp = await api.client.post(f"/vm/{vmid}/console", json={"type": "spice"}, headers=headers)
    assert (resp.status_code, resp.json()["error"]["code"]) == (409, "vm_not_running")


async def test_a_vm_removed_behind_our_back_is_409_vm_missing(
    api: Api, sim: PveSim, vm: tuple[dict[str, str], int]
) -> None:
    headers, vmid = vm
    sim.call(lambda: sim.cluster.vms.pop(vmid))
    resp = await api.client.post(f"/vm/{vmid}/stop", headers=headers)
    assert (resp.status_code, resp.json()["error"]["code"]) == (409, "vm_missing")


async def test_no_quorum_is_503_with_retry_after(api: Api, sim: PveSim, vm: tuple[dict[str, str], int]) -> None:
    headers, vmid = vm
    sim.faults.set_error_rate(1.0, "cluster not ready - no quorum?")
    resp = await api.client.post(f"/vm/{vmid}/stop", headers=headers)
    sim.faults.clear()
    assert (resp.status_code, resp.json()["error"]["code"]) == (503, "proxmox_unavailable")
    assert resp.headers["Retry-After"] == "5"


async def test_an_unknown_failure_is_502_and_not_called_temporary(
    api: Api, sim: PveSim, vm: tuple[dict[str, str], int]
) -> None:
    headers, vmid = vm
    sim.faults.set_error_rate(1.0, "something nobody has seen before")
    resp = await api.client.post(f"/vm/{vmid}/stop", headers=headers)
    sim.faults.clear()
    assert (resp.status_code, resp.json()["error"]["code"]) == (502, "proxmox_error")
    assert "retry-after" not in resp.headers
    assert "something nobody has seen before" in resp.json()["error"]["message"]


async def test_the_os_catalog_shows_login_user_and_template_disk(api: Api, sim: PveSim) -> None:
    key = await api.new_user("alice")
    catalog = (await api.client.get("/vm/os", headers=api.as_key(key))).json()
    assert "debian-12" in catalog["os"]  # what it returned before stays
    assert catalog["nodes"] == ["sv1", "sv2", "sv3", "sv4", "sv5"]
    systems = {s["os"]: s for s in catalog["systems"]}
    assert systems["debian-12"] == {
        "os": "debian-12", "template": "tpl-debian-12", "nodes": ["sv1", "sv2", "sv3", "sv4"],
        "login_user": "cloud", "min_disk_gb": 10,
    }  # fmt: skip
    assert catalog["error"] is None
    sim.faults.set_error_rate(1.0, "cluster not ready - no quorum?")
    cached = (await api.client.get("/vm/os", headers=api.as_key(key))).json()
    sim.faults.clear()
    assert cached == catalog  # read from the templates once, then cached
