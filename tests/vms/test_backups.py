"""Backups through the API against pvesim: backup → delete the VM → restore it, restore in place, deleting a
backup, quotas and tenancy."""

from __future__ import annotations

from typing import Any

import pytest
from pvesim.testing import PveSim

from tests.support.app import Api
from tests.vms.helpers import create_vm, wait_op
from tests.vms.test_snapshots import disk_size, run

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "mariadb"], indirect=True)
KEPT = ("cores", "memory", "sockets", "scsihw", "boot", "ostype", "ciuser", "ipconfig0", "agent")


def backup_id(op: dict[str, Any]) -> int:
    """The backup a finished vm.backup made."""
    return int(op["result"]["backup_id"])


async def test_backup_delete_restore_finds_the_vm_as_it_was(api: Api, sim: PveSim) -> None:
    alice = api.as_key(await api.new_user("alice"))
    vm = await create_vm(api, alice, name="keeper", cores=2, memory=2048, disk=25)
    vmid, before = vm["vmid"], vm["live"]["config"]

    op = await run(api, alice, "POST", f"/vm/{vmid}/backups")
    assert op["kind"] == "vm.backup"
    backup = (await api.client.get(f"/backups/{backup_id(op)}", headers=alice)).json()
    assert backup["status"] == "available"
    assert backup["vmid"] == vmid
    assert backup["size_bytes"] > 0
    assert (backup["cores"], backup["memory"], backup["disk"]) == (2, 2048, 25)
    listed = (await api.client.get(f"/vm/{vmid}/backups", headers=alice)).json()["items"]
    assert [b["id"] for b in listed] == [backup["id"]]
    quota = (await api.client.get("/users/alice/quota", headers=alice)).json()["usage"]
    assert quota["backups"] == 1
    assert quota["backup_gb"] > 0

    await run(api, alice, "DELETE", f"/vm/{vmid}")
    assert vmid not in sim.cluster.vms

    op = await run(api, alice, "POST", f"/backups/{backup['id']}/restore", target="new")
    assert op["kind"] == "vm.create"
    new_vmid = int(op["target_id"])
    assert new_vmid != vmid  # a fresh VMID through the create path's reservation
    restored = (await api.client.get(f"/vm/{new_vmid}", headers=alice)).json()
    assert restored["status"] == "enabled"
    assert restored["name"] == "keeper"
    assert restored["live"]["power"] == "running"
    assert (restored["cores"], restored["memory"], restored["disk"]) == (2, 2048, 25)
    for key in KEPT:
        assert restored["live"]["config"].get(key) == before.get(key), key
    assert disk_size(restored["live"]["config"]) == disk_size(before) == "25G"
    assert f"vm-{new_vmid}-disk-0" in restored["live"]["config"]["scsi0"]
    assert [t["type"] for t in sim.simulator.tasks.to_json()].count("qmrestore") == 1
    assert "qmclone" not in [t["type"] for t in sim.simulator.tasks.to_json()][-4:]


async def test_restore_over_the_same_vm_and_delete_the_backup(api: Api, sim: PveSim) -> None:
    alice = api.as_key(await api.new_user("alice"))
    vmid = (await create_vm(api, alice, name="web", cores=2, disk=20))["vmid"]
    op = await run(api, alice, "POST", f"/vm/{vmid}/backups")
    bid = backup_id(op)
    await run(api, alice, "PATCH", f"/vm/{vmid}", cores=6, disk=40)

    op = await run(api, alice, "POST", f"/backups/{bid}/restore", target="same")
    assert op["kind"] == "vm.restore"
    vm = (await api.client.get(f"/vm/{vmid}", headers=alice)).json()
    assert vm["status"] == "enabled"
    assert vm["live"]["power"] == "running"  # it ran before the restore, so it runs after
    assert vm["live"]["config"]["cores"] == 2
    assert disk_size(vm["live"]["config"]) == "20G"
    assert (vm["cores"], vm["disk"]) == (2, 20)

    resp = await api.client.delete(f"/backups/{bid}", headers=alice, params={"wait": 30})
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "deleted"
    assert sim.cluster.backups == {}
    assert (await api.client.get(f"/vm/{vmid}/backups", headers=alice)).json()["items"] == []
    resp = await api.client.post(f"/backups/{bid}/restore", json={"target": "same"}, headers=alice)
    assert resp.status_code == 409
    assert resp.json()["error"]["code"] == "backup_not_available"


async def test_backup_refusals(api: Api, sim: PveSim) -> None:
    alice = api.as_key(await api.new_user("alice"))
    bob = api.as_key(await api.new_user("bob"))
    vmid = (await create_vm(api, alice, name="box"))["vmid"]
    assert (await api.client.post(f"/vm/{vmid}/backups", headers=bob)).status_code == 404
    assert (await api.client.put(f"/vm/{vmid}/protection", json={"protected": True}, headers=bob)).status_code == 404

    resp = await api.client.put("/users/alice/quota", json={"max_backups": 1}, headers=api.admin)
    assert resp.status_code == 200
    bid = backup_id(await run(api, alice, "POST", f"/vm/{vmid}/backups"))
    resp = await api.client.post(f"/vm/{vmid}/backups", headers=alice)
    assert resp.status_code == 409
    assert resp.json()["error"]["code"] == "quota_exceeded"
    assert resp.json()["error"]["details"]["backups"] == {"limit": 1, "in_use": 1, "requested": 1}
    await api.client.put("/users/alice/quota", json={"max_backups": 5, "max_backup_gb": 0}, headers=api.admin)
    resp = await api.client.post(f"/vm/{vmid}/backups", headers=alice)
    assert resp.status_code == 409
    assert "backup_gb" in resp.json()["error"]["details"]
    assert [t["type"] for t in sim.simulator.tasks.to_json()].count("vzdump") == 1

    for call in (
        api.client.get(f"/backups/{bid}", headers=bob),
        api.client.delete(f"/backups/{bid}", headers=bob),
        api.client.post(f"/backups/{bid}/restore", json={"target": "new"}, headers=bob),
    ):
        resp = await call
        assert resp.status_code == 404, resp.text
        assert resp.json()["error"]["code"] == "backup_not_found"
    assert (await api.client.get("/backups", headers=bob)).json()["items"] == []

    sim.call(lambda: sim.cluster.vms[vmid].config.__setitem__("lock", "snapshot"))
    await api.client.put("/users/alice/quota", json={"max_backup_gb": None}, headers=api.admin)
    resp = await api.client.post(f"/vm/{vmid}/backups", headers=alice)
    assert resp.status_code == 202
    op = await wait_op(api, alice, resp.headers["Location"])
    assert op["state"] == "failed"  # vzdump refuses a locked VM inside its task (job errors)
    (failed,) = [b for b in (await api.client.get("/backups", headers=alice)).json()["items"] if b["id"] != bid]
    assert failed["status"] == "failed"
    assert "locked" in failed["error"]["message"] or "job errors" in failed["error"]["message"]


async def test_protection_refuses_delete_rebuild_and_restore_in_place(api: Api) -> None:
    alice = api.as_key(await api.new_user("alice"))
    vmid = (await create_vm(api, alice, name="prod"))["vmid"]
    bid = backup_id(await run(api, alice, "POST", f"/vm/{vmid}/backups"))
    resp = await api.client.put(f"/vm/{vmid}/protection", json={"protected": True}, headers=alice)
    assert resp.status_code == 200
    assert resp.json()["protected"] is True
    for resp in (
        await api.client.delete(f"/vm/{vmid}", headers=alice),
        await api.client.post(f"/vm/{vmid}/rebuild", json={"confirm": "prod"}, headers=alice),
        await api.client.post(f"/backups/{bid}/restore", json={"target": "same"}, headers=alice),
    ):
        assert resp.status_code == 409, resp.text
        assert resp.json()["error"]["code"] == "vm_protected"
    vm = (await api.client.get(f"/vm/{vmid}", headers=alice)).json()
    assert vm["status"] == "enabled"
    assert vm["live"]["power"] == "running"
    await api.client.put(f"/vm/{vmid}/protection", json={"protected": False}, headers=alice)
    await run(api, alice, "DELETE", f"/vm/{vmid}")
