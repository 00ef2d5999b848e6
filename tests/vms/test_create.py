"""Creating VMs end to end against pvesim through proxmoxer."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import pytest
from pvesim.testing import PveSim

from cloudfaster.core.polling import poll_until
from cloudfaster.core.runner.kinds import RetryableError
from cloudfaster.vms import store
from tests.support.app import Api
from tests.support.databases import BACKENDS
from tests.vms.helpers import ssh_key, vm_body, wait_op


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
async def test_create_clones_configures_grows_and_starts(api: Api, sim: PveSim) -> None:
    key = await api.new_user("alice")
    keys = [ssh_key(), ssh_key("ssh-rsa", "second key")]
    resp = await api.client.post(
        "/vm", json=vm_body("web-1", sshkeys=keys, cores=3, memory=3072, disk=25), headers=api.as_key(key)
    )
    assert resp.status_code == 202, resp.text
    vm = resp.json()
    assert vm["status"] == "creating"
    assert vm["userid"] == "alice"
    assert resp.headers["Location"] == f"/operations/{vm['operation']['id']}"

    op = await wait_op(api, api.as_key(key), resp.headers["Location"])
    assert op["state"] == "succeeded", op
    done = [s["name"] for s in op["steps"] if s["state"] == "done"]
    node = op["result"]["node"]
    assert done == ["place", f"network@{node}", f"clone@{node}", f"configure@{node}", f"resize@{node}", f"start@{node}"]

    got = (await api.client.get(f"/vm/{vm['vmid']}", headers=api.as_key(key))).json()
    assert got["status"] == "enabled"
    assert got["node"] == node
    assert got["live"]["power"] == "running"
    assert got["live"]["cpus"] == 3
    assert got["live"]["memory_bytes"] == 3072 * 1024**2
    assert got["live"]["disk_bytes"] == 25 * 1024**3

    pve = sim.cluster.vms[vm["vmid"]]
    assert pve.node == node
    assert pve.status == "running"
    assert pve.config["name"] == "web-1"
    assert pve.config["cores"] == 3
    assert unquote(pve.config["sshkeys"]).splitlines() == keys
    assert "%20" in pve.config["sshkeys"]  # percent-encoded, never '+'
    assert "size=25G" in pve.config["scsi0"]


def our_vms(sim: PveSim) -> dict[int, str]:
    """Non-template VMs in the simulated cluster: vmid -> node."""
    return {vmid: vm.node for vmid, vm in sim.cluster.vms.items() if not vm.is_template}


async def test_failover_when_the_preferred_node_is_offline(api: Api, sim: PveSim) -> None:
    key = await api.new_user("alice")
    sim.faults.set_node_offline("sv1")
    resp = await api.client.post("/vm", json=vm_body(node="sv1"), headers=api.as_key(key))
    op = await wait_op(api, api.as_key(key), resp.headers["Location"])
    assert op["state"] == "succeeded", op
    assert op["result"]["node"] != "sv1"
    assert "sv1" in op["result"]["failures"]
    assert [s for s in op["steps"] if s["name"] == "failover@sv1"], op["steps"]
    vm = (await api.client.get(f"/vm/{resp.json()['vmid']}", headers=api.as_key(key))).json()
    assert vm["status"] == "enabled"
    assert vm["node"] == op["result"]["node"]
    assert "No route to host" in vm["status_detail"]["failures"]["sv1"]
    assert our_vms(sim) == {vm["vmid"]: vm["node"]}


async def test_failover_when_the_preferred_node_has_no_memory(api: Api, sim: PveSim) -> None:
    key = await api.new_user("alice")
    sim.faults.set_node_out_of_memory("sv1")
    resp = await api.client.post("/vm", json=vm_body(node="sv1"), headers=api.as_key(key))
    op = await wait_op(api, api.as_key(key), resp.headers["Location"])
    assert op["state"] == "succeeded", op
    assert op["result"]["failures"]["sv1"] == "clone failed: cannot allocate memory"
    assert our_vms(sim) == {resp.json()["vmid"]: op["result"]["node"]}
    assert op["result"]["node"] != "sv1"


async def test_without_preference_a_node_short_of_memory_is_tried_last(api: Api, sim: PveSim) -> None:
    key = await api.new_user("alice")
    sim.faults.set_node_out_of_memory("sv2")
    resp = await api.client.post("/vm", json=vm_body(), headers=api.as_key(key))
    op = await wait_op(api, api.as_key(key), resp.headers["Location"])
    assert op["state"] == "succeeded"
    assert op["result"]["node"] != "sv2"
    assert op["result"]["failures"] == {}


async def test_all_nodes_failing_leaves_nothing_behind(api: Api, sim: PveSim) -> None:
    key = await api.new_user("alice")
    sim.faults.fail_task("qmstart", "start failed: QEMU exited with code 1")
    resp = await api.client.post("/vm", json=vm_body(os="debian-12"), headers=api.as_key(key))
    op = await wait_op(api, api.as_key(key), resp.headers["Location"])
    assert op["state"] == "failed"
    assert op["error"]["code"] == "no_node_available"
    # debian-12 has a template on every node but sv5 (pvesim's default layout).
    failures = op["error"]["details"]["nodes"]
    assert sorted(failures) == ["sv1", "sv2", "sv3", "sv4"]
    assert all(reason == "start failed: QEMU exited with code 1" for reason in failures.values())
    assert "sv5" in op["error"]["details"]["skipped"]
    removed = [s["name"] for s in op["steps"] if s["name"].startswith("removed@")]
    assert sorted(removed) == ["removed@sv1", "removed@sv2", "removed@sv3", "removed@sv4"]
    assert our_vms(sim) == {}
    vm = (await api.client.get(f"/vm/{resp.json()['vmid']}", headers=api.as_key(key))).json()
    assert vm["status"] == "failed"
    assert vm["node"] is None
    assert sorted(vm["status_detail"]["failures"]) == ["sv1", "sv2", "sv3", "sv4"]


async def test_wait_blocks_until_the_vm_is_enabled(api: Api) -> None:
    key = await api.new_user("alice")
    resp = await api.client.post("/vm?wait=30", json=vm_body(), headers=api.as_key(key))
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "enabled"
    assert resp.json()["operation"]["state"] == "succeeded"


async def test_quota_is_checked_before_any_side_effect(api: Api, sim: PveSim) -> None:
    key = await api.new_user("alice")
    await api.client.put("/users/alice/quota", json={"max_vcpus": 4}, headers=api.admin)
    resp = await api.client.post("/vm", json=vm_body(cores=5), headers=api.as_key(key))
    assert resp.status_code == 409
    assert resp.json()["error"]["code"] == "quota_exceeded"
    assert our_vms(sim) == {}
    listed = (await api.client.get("/vm", headers=api.as_key(key))).json()
    assert listed["items"] == []


async def test_a_user_key_cannot_create_for_someone_else(api: Api) -> None:
    key = await api.new_user("alice")
    await api.new_user("bob")
    resp = await api.client.post("/vm", json=vm_body(userid="bob"), headers=api.as_key(key))
    assert resp.status_code == 403
    assert resp.json()["error"]["code"] == "other_user"


async def test_admin_creates_for_a_named_user(api: Api) -> None:
    await api.new_user("carol")
    resp = await api.client.post("/vm", json=vm_body(userid="carol"), headers=api.admin)
    assert resp.status_code == 202
    assert resp.json()["userid"] == "carol"
    await wait_op(api, api.admin, resp.headers["Location"])


async def clone_then_take_sv1_offline(api: Api, sim: PveSim, headers: dict[str, str]) -> tuple[int, str]:
    """Create a VM on sv1 and take sv1 offline while its clone runs; the VMID and the operation's URL."""
    sim.set_task_duration("qmclone", 1.5)
    resp = await api.client.post("/vm", json=vm_body(node="sv1"), headers=headers)
    first: int = resp.json()["vmid"]

    async def cloning() -> bool:
        steps = (await api.client.get(resp.headers["Location"], headers=headers)).json()["steps"]
        return any(s["name"] == "clone@sv1" and s["state"] == "running" for s in steps) and first in sim.cluster.vms

    assert (await poll_until(cloning, bool, timeout_s=4, interval_s=0.02)).done, "the clone on sv1 never started"
    sim.faults.set_node_offline("sv1")  # the half-made clone keeps VMID `first` taken, cluster-wide
    return first, resp.headers["Location"]


async def test_node_going_offline_mid_clone_moves_the_vm_to_a_new_vmid(api: Api, sim: PveSim) -> None:
    key = await api.new_user("alice")
    headers = api.as_key(key)
    first, location = await clone_then_take_sv1_offline(api, sim, headers)

    op = await wait_op(api, headers, location)
    assert op["state"] == "succeeded", op
    moved_to = op["result"]["vmid"]
    assert moved_to != first
    assert op["result"]["node"] != "sv1"
    assert [s for s in op["steps"] if s["name"] == "renumber@sv1"]
    old = (await api.client.get(f"/vm/{first}", headers=headers)).json()
    assert old["status"] == "deleted"
    assert old["status_detail"]["moved_to"] == moved_to
    assert old["status_detail"]["leftover"]["node"] == "sv1"
    new = (await api.client.get(f"/vm/{moved_to}", headers=headers)).json()
    assert new["status"] == "enabled"
    quota = (await api.client.get("/users/alice/quota", headers=headers)).json()
    assert quota["usage"]["vms"] == 1

    # Once sv1 answers again, the reconcile pass removes the partial clone it kept.
    sim.faults.set_node_offline("sv1", offline=False)
    result = (await api.client.post("/vm/reconcile", headers=api.admin)).json()
    assert result["leftovers_removed"] == [first]
    assert our_vms(sim) == {moved_to: op["result"]["node"]}
    old = (await api.client.get(f"/vm/{first}", headers=headers)).json()
    assert "leftover" not in old["status_detail"]


async def test_an_attempt_cut_short_before_the_renumbering_still_renumbers_when_resumed(
    api: Api, sim: PveSim, monkeypatch: pytest.MonkeyPatch
) -> None:
    renumber = store.renumber
    calls = 0

    async def deadlocked_once(*args: Any, **kwargs: Any) -> int:
        nonlocal calls
        calls += 1
        if calls == 1:  # what a deadlock broken by the database does to the first attempt
            raise RetryableError("the database broke a deadlock; retrying", code="database_deadlock")
        return await renumber(*args, **kwargs)

    monkeypatch.setattr(store, "renumber", deadlocked_once)
    key = await api.new_user("alice")
    headers = api.as_key(key)
    first, location = await clone_then_take_sv1_offline(api, sim, headers)

    op = await wait_op(api, headers, location)
    assert op["state"] == "succeeded", op
    assert op["attempt"] == 2
    assert calls == 2
    assert op["result"]["vmid"] != first
    renumbering = [(s["attempt"], s["state"]) for s in op["steps"] if s["name"] == "renumber@sv1"]
    assert renumbering == [(1, "failed"), (2, "done")]
    assert our_vms(sim) == {first: "sv1", op["result"]["vmid"]: op["result"]["node"]}
