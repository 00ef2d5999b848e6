"""Rebuild (same VMID, owner, node and addresses; confirmation needed) and usage history from rrddata."""

from __future__ import annotations

import pytest
from pvesim.testing import PveSim

from tests.support.app import Api
from tests.vms.helpers import create_vm, ssh_key
from tests.vms.test_snapshots import run

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)


def other_os(sim: PveSim, node: str, current: str) -> str:
    """An OS other than ``current`` whose template ``node`` has."""
    names = {vm.name for vm in sim.cluster.templates() if vm.node == node}
    return next(os for os in ("debian-13", "ubuntu-24.04", "ubuntu-22.04", "rocky-9") if f"tpl-{os}" in names
                and os != current)  # fmt: skip


async def test_rebuild_keeps_vmid_owner_node_and_addresses(api: Api, sim: PveSim) -> None:
    alice = api.as_key(await api.new_user("alice"))
    vm = await create_vm(api, alice, name="app", disk=30)
    vmid, node, before = vm["vmid"], vm["node"], vm["live"]["config"]
    await run(api, alice, "POST", f"/vm/{vmid}/snapshots", name="old-system")
    os = other_os(sim, node, "debian-12")
    new_key = ssh_key(comment="new@laptop")

    resp = await api.client.post(f"/vm/{vmid}/rebuild", json={"confirm": "wrong", "os": os}, headers=alice)
    assert resp.status_code == 422
    assert resp.json()["error"]["code"] == "confirmation_mismatch"
    resp = await api.client.post(f"/vm/{vmid}/rebuild", json={"os": os}, headers=alice)
    assert resp.status_code == 422  # the confirmation is required
    bob = api.as_key(await api.new_user("bob"))
    assert (await api.client.post(f"/vm/{vmid}/rebuild", json={"confirm": "app"}, headers=bob)).status_code == 404

    op = await run(api, alice, "POST", f"/vm/{vmid}/rebuild", confirm="app", os=os, sshkeys=[new_key])
    assert op["kind"] == "vm.rebuild"
    after = (await api.client.get(f"/vm/{vmid}", headers=alice)).json()
    assert (after["vmid"], after["userid"], after["node"], after["status"]) == (vmid, "alice", node, "enabled")
    assert after["os"] == os
    assert after["sshkeys"] == [new_key]
    assert after["live"]["power"] == "running"
    config = after["live"]["config"]
    for key in ("net0", "ipconfig0", "cores", "memory", "name"):
        assert config[key] == before[key], key
    assert "size=30G" in config["scsi0"]
    assert sim.cluster.vms[vmid].config["description"].endswith(f"(vmid {vmid})")
    template = next(t for t in sim.cluster.templates() if t.node == node and t.name == f"tpl-{os}")
    clones = [t for t in sim.simulator.tasks.to_json() if t["type"] == "qmclone"]
    assert [t["id"] for t in clones][-1] == str(template.vmid)  # cloned from the new OS's template
    assert (await api.client.get(f"/vm/{vmid}/snapshots", headers=alice)).json()["snapshots"] == []


async def test_metrics_for_the_owner_and_nodes_for_admins(api: Api, sim: PveSim) -> None:
    alice = api.as_key(await api.new_user("alice"))
    vm = await create_vm(api, alice, name="busy")
    vmid = vm["vmid"]
    young = (await api.client.get(f"/vm/{vmid}/metrics", headers=alice)).json()
    assert young["time"] == []  # PVE has no RRD file for the first 10 s: an empty history, not an error

    sim.call(lambda: setattr(sim.cluster.vms[vmid], "created_at", 0.0))
    for timeframe, step, points in (("hour", 60, 60), ("day", 60, 1440), ("week", 1800, 336), ("month", 1800, 1440)):
        resp = await api.client.get(f"/vm/{vmid}/metrics", params={"timeframe": timeframe}, headers=alice)
        assert resp.status_code == 200, resp.text
        usage = resp.json()
        assert usage["step_s"] == step
        assert len(usage["time"]) in (points - 1, points)
        assert set(usage["series"]) == {"cpu", "memory_used", "memory_total", "net_in", "net_out", "disk_read",
                                        "disk_write"}  # fmt: skip
        assert all(len(values) == len(usage["time"]) for values in usage["series"].values())
        assert 0 <= usage["series"]["cpu"][-1] <= 1
        assert usage["series"]["memory_total"][-1] == 2048 * 1024**2
    resp = await api.client.get(f"/vm/{vmid}/metrics", params={"timeframe": "year"}, headers=alice)
    assert resp.status_code == 422

    bob = api.as_key(await api.new_user("bob"))
    assert (await api.client.get(f"/vm/{vmid}/metrics", headers=bob)).status_code == 404
    assert (await api.client.get(f"/nodes/{vm['node']}/metrics", headers=alice)).status_code == 403
    node = (await api.client.get(f"/nodes/{vm['node']}/metrics", params={"timeframe": "day"}, headers=api.admin)).json()
    assert len(node["time"]) == 1440
    assert {"cpu", "load", "memory_used", "memory_total", "net_in", "net_out", "iowait"} == set(node["series"])
    assert (await api.client.get("/nodes/nowhere/metrics", headers=api.admin)).status_code == 404
