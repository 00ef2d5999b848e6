"""Snapshots through the API against pvesim: snapshot → break → rollback, and every refusal."""

from __future__ import annotations

from typing import Any

import pytest
from pvesim.testing import PveSim

from tests.support.app import Api
from tests.vms.helpers import create_vm, wait_op

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)


async def run(api: Api, headers: dict[str, str], method: str, url: str, **body: Any) -> dict[str, Any]:
    """Send a call that starts an operation; wait for it to succeed; return the operation."""
    resp = await api.client.request(method, url, json=body or None, headers=headers)
    assert resp.status_code == 202, resp.text
    op = await wait_op(api, headers, resp.headers["Location"])
    assert op["state"] == "succeeded", op
    return op


def disk_size(config: dict[str, Any]) -> str:
    """The size= of the boot disk."""
    return str(config["scsi0"]).rsplit("size=", 1)[1].split(",")[0]


async def test_snapshot_break_rollback_finds_the_vm_as_it_was(api: Api, sim: PveSim) -> None:
    alice = api.as_key(await api.new_user("alice"))
    vm = await create_vm(api, alice, name="box")
    vmid = vm["vmid"]
    before = vm["live"]["config"]

    await run(api, alice, "POST", f"/vm/{vmid}/snapshots", name="before-upgrade", description="clean")
    await run(api, alice, "PATCH", f"/vm/{vmid}", cores=4, disk=30)  # the "upgrade" that breaks it
    await run(api, alice, "POST", f"/vm/{vmid}/stop")
    broken = (await api.client.get(f"/vm/{vmid}", headers=alice)).json()
    assert broken["live"]["config"]["cores"] == 4
    assert disk_size(broken["live"]["config"]) == "30G"

    listed = (await api.client.get(f"/vm/{vmid}/snapshots", headers=alice)).json()
    assert [s["name"] for s in listed["snapshots"]] == ["before-upgrade"]
    assert listed["current_parent"] == "before-upgrade"
    assert listed["snapshots"][0]["description"] == "clean"

    op = await run(api, alice, "POST", f"/vm/{vmid}/snapshots/before-upgrade/rollback")
    assert op["kind"] == "vm.rollback"
    after = (await api.client.get(f"/vm/{vmid}", headers=alice)).json()
    assert after["live"]["power"] == "stopped"  # a snapshot without RAM leaves the VM stopped (PVE)
    for key in ("cores", "memory", "net0", "ipconfig0", "sshkeys"):
        assert after["live"]["config"].get(key) == before.get(key), key
    assert disk_size(after["live"]["config"]) == disk_size(before) == "20G"
    assert (after["cores"], after["disk"]) == (2, 20)  # our record follows what PVE holds again

    await run(api, alice, "POST", f"/vm/{vmid}/snapshots/before-upgrade/rollback", start=True)
    assert (await api.client.get(f"/vm/{vmid}", headers=alice)).json()["live"]["power"] == "running"
    await run(api, alice, "DELETE", f"/vm/{vmid}/snapshots/before-upgrade")
    assert (await api.client.get(f"/vm/{vmid}/snapshots", headers=alice)).json()["snapshots"] == []
    assert [t["type"] for t in sim.simulator.tasks.to_json()].count("qmsnapshot") == 1


async def test_snapshot_refusals(api: Api, sim: PveSim) -> None:
    alice = api.as_key(await api.new_user("alice"))
    bob = api.as_key(await api.new_user("bob"))
    vmid = (await create_vm(api, alice, name="box"))["vmid"]
    tasks_before = len(sim.simulator.tasks.to_json())

    for bad in ("x", "1abc", "current", "Pending", "with space", "a" * 41):
        resp = await api.client.post(f"/vm/{vmid}/snapshots", json={"name": bad}, headers=alice)
        assert resp.status_code == 422, (bad, resp.text)
        assert resp.json()["error"]["code"] in ("invalid_snapshot_name", "validation_failed"), resp.text
    resp = await api.client.post(f"/vm/{vmid}/snapshots", json={"name": "mine"}, headers=bob)
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "vm_not_found"
    assert (await api.client.get(f"/vm/{vmid}/snapshots", headers=bob)).status_code == 404

    sim.call(lambda: sim.cluster.vms[vmid].config.__setitem__("lock", "backup"))
    resp = await api.client.post(f"/vm/{vmid}/snapshots", json={"name": "locked"}, headers=alice)
    assert resp.status_code == 409
    assert resp.json()["error"]["code"] == "vm_locked"
    sim.call(lambda: sim.cluster.vms[vmid].config.pop("lock"))
    assert len(sim.simulator.tasks.to_json()) == tasks_before  # nothing was started by any refusal

    resp = await api.client.put("/users/alice/quota", json={"max_snapshots_per_vm": 1}, headers=api.admin)
    assert resp.status_code == 200, resp.text
    await run(api, alice, "POST", f"/vm/{vmid}/snapshots", name="first")
    resp = await api.client.post(f"/vm/{vmid}/snapshots", json={"name": "first"}, headers=alice)
    assert resp.status_code == 409
    assert resp.json()["error"]["code"] == "snapshot_exists"
    resp = await api.client.post(f"/vm/{vmid}/snapshots", json={"name": "second"}, headers=alice)
    assert resp.status_code == 409
    assert resp.json()["error"]["code"] == "quota_exceeded"
    assert resp.json()["error"]["details"]["snapshots_per_vm"]["limit"] == 1
    resp = await api.client.post(f"/vm/{vmid}/snapshots/nope/rollback", headers=alice)
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "snapshot_not_found"
    assert (await api.client.delete(f"/vm/{vmid}/snapshots/first", headers=bob)).status_code == 404


async def test_a_replayed_snapshot_returns_the_first_operation(api: Api) -> None:
    alice = api.as_key(await api.new_user("alice"))
    vmid = (await create_vm(api, alice, name="box"))["vmid"]
    headers = {**alice, "Idempotency-Key": "snap-1"}
    first = await api.client.post(f"/vm/{vmid}/snapshots", json={"name": "once"}, headers=headers)
    assert first.status_code == 202
    await wait_op(api, alice, first.headers["Location"])
    again = await api.client.post(f"/vm/{vmid}/snapshots", json={"name": "once"}, headers=headers)
    assert again.status_code == 200, again.text  # the first operation, already finished: not a 409
    assert again.json()["operation"]["id"] == first.json()["operation"]["id"]


async def test_one_operation_per_vm(api: Api, sim: PveSim) -> None:
    alice = api.as_key(await api.new_user("alice"))
    vmid = (await create_vm(api, alice, name="box"))["vmid"]
    sim.set_task_duration("qmsnapshot", 2.0)
    first = await api.client.post(f"/vm/{vmid}/snapshots", json={"name": "slow"}, headers=alice)
    assert first.status_code == 202
    busy = await api.client.post(f"/vm/{vmid}/backups", headers=alice)
    assert busy.status_code == 409
    assert busy.json()["error"]["code"] in ("operation_in_progress", "vm_locked")
    await wait_op(api, alice, first.headers["Location"])
