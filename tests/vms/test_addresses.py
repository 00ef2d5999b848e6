"""Addresses end to end: a pool's address in cloud-init before the first start, the guest agent's view, release
only once the VM is gone, failover to another pool, and an exhausted pool refused before any side effect."""

from __future__ import annotations

import asyncio
from typing import Any

from pvesim.testing import PveSim

from cloudfaster.core.polling import poll_until
from tests.support.app import Api
from tests.vms.helpers import create_vm, vm_body, wait_op
from tests.vms.pool_helpers import make_pool, pool_addresses


def our_vms(sim: PveSim) -> dict[int, Any]:
    """The non-template VMs in the simulated cluster."""
    return {vmid: vm for vmid, vm in sim.cluster.vms.items() if not vm.is_template}


async def test_a_pool_address_is_in_cloud_init_before_the_first_start(api: Api, sim: PveSim) -> None:
    await make_pool(api, cidr="10.40.0.0/24", gateway="10.40.0.1", excluded=["10.40.0.2-10.40.0.9"])
    key = await api.new_user("alice")
    vm = await create_vm(api, api.as_key(key), node="sv2")

    pve = sim.cluster.vms[vm["vmid"]]
    assert pve.config["ipconfig0"] == "ip=10.40.0.10/24,gw=10.40.0.1"
    assert pve.config["nameserver"] == "10.10.0.53 1.1.1.1"
    assert pve.config["searchdomain"] == "lab.example.org"
    model, _, rest = pve.config["net0"].partition(",")
    assert model.startswith("virtio=BC:24:11:")  # the clone's own MAC, kept
    assert sorted(rest.split(",")) == ["bridge=vmbr1", "tag=42"]
    assert pve.config["ciuser"] == "cloud"
    # Written before the first start: the start task came after the configure step, and nothing is pending.
    assert not pve.pending

    assert pool_addresses(vm) == ["10.40.0.10"]
    assert {"address": "10.40.0.10", "prefix": 24, "version": 4, "source": "agent", "pool": None,
            "interface": "eth0"} in vm["addresses"]  # fmt: skip
    assert vm["login_user"] == "cloud"
    assert vm["ssh"] == "ssh cloud@10.40.0.10"
    assert vm["agent"] == {"state": "running", "message": None}
    listed = (await api.client.get("/vm", headers=api.as_key(key))).json()["items"]
    assert pool_addresses(listed[0]) == ["10.40.0.10"]


async def test_a_dhcp_vm_shows_the_address_its_guest_agent_reports(api: Api, sim: PveSim) -> None:
    key = await api.new_user("alice")
    vm = await create_vm(api, api.as_key(key))
    assert sim.cluster.vms[vm["vmid"]].config["ipconfig0"] == "ip=dhcp"
    assert "nameserver" not in sim.cluster.vms[vm["vmid"]].config
    (reported,) = vm["addresses"]
    assert reported["source"] == "agent"
    assert reported["address"].startswith("10.200.")  # pvesim's DHCP network
    assert reported["interface"] == "eth0"
    assert vm["ssh"] == f"ssh cloud@{reported['address']}"


async def test_an_agent_that_is_not_running_or_disabled_is_said_plainly(api: Api, sim: PveSim) -> None:
    key = await api.new_user("alice")
    headers = api.as_key(key)
    sim.config.agent_start_delay = 3600  # the guest is still booting
    vm = await create_vm(api, headers)
    got = await api.client.get(f"/vm/{vm['vmid']}", headers=headers)
    assert got.status_code == 200
    body = got.json()
    assert body["agent"]["state"] == "not_running"
    assert "not running (yet)" in body["agent"]["message"]
    assert body["addresses"] == []
    assert body["ssh"] is None
    assert body["login_user"] == "cloud"
    assert body["live"]["power"] == "running"
    sim.config.agent_start_delay = 0
    assert (await api.client.get(f"/vm/{vm['vmid']}", headers=headers)).json()["agent"]["state"] == "running"
    sim.faults.set_agent_down(vm["vmid"])  # a guest without qemu-guest-agent
    assert (await api.client.get(f"/vm/{vm['vmid']}", headers=headers)).json()["agent"]["state"] == "not_running"

    sim.call(lambda: sim.cluster.vms[vm["vmid"]].config.pop("agent"))
    body = (await api.client.get(f"/vm/{vm['vmid']}", headers=headers)).json()
    assert body["agent"]["state"] == "disabled"
    sim.call(lambda: sim.cluster.vms[vm["vmid"]].config.update(agent="0"))
    assert (await api.client.get(f"/vm/{vm['vmid']}", headers=headers)).json()["agent"]["state"] == "disabled"

    stop = await api.client.post(f"/vm/{vm['vmid']}/stop", headers=headers)
    await wait_op(api, headers, stop.headers["Location"])
    body = (await api.client.get(f"/vm/{vm['vmid']}", headers=headers)).json()
    assert body["agent"]["state"] == "vm_not_running"


async def test_an_exhausted_pool_is_409_with_nothing_created(api: Api, sim: PveSim) -> None:
    await make_pool(api, cidr="10.50.0.0/29", gateway="10.50.0.1", excluded=["10.50.0.3-10.50.0.6"])  # only .2
    key = await api.new_user("alice")
    headers = api.as_key(key)
    first = await create_vm(api, headers, name="first")
    assert pool_addresses(first) == ["10.50.0.2"]
    before = set(our_vms(sim))
    for node in (None, "sv1"):
        resp = await api.client.post("/vm", json=vm_body("second", node=node), headers=headers)
        assert resp.status_code == 409, resp.text
        assert resp.json()["error"]["code"] == "pool_exhausted"
    assert set(our_vms(sim)) == before
    listed = (await api.client.get("/vm?limit=200", headers=api.admin)).json()["items"]
    assert [v["name"] for v in listed] == ["first"]
    ops = (await api.client.get("/operations", headers=api.admin)).json()["items"]
    assert [op["kind"] for op in ops] == ["vm.create"]


async def test_an_address_comes_back_only_once_its_vm_is_gone(api: Api, sim: PveSim) -> None:
    await make_pool(api, cidr="10.60.0.0/30", gateway="10.60.0.1")  # one address: .2
    key = await api.new_user("alice")
    headers = api.as_key(key)
    vm = await create_vm(api, headers, name="old")
    sim.set_task_duration("qmdestroy", 1.0)
    deleting = await api.client.delete(f"/vm/{vm['vmid']}", headers=headers)
    assert deleting.status_code == 202

    async def destroying() -> bool:
        steps = (await api.client.get(deleting.headers["Location"], headers=headers)).json()["steps"]
        return any(s["name"] == "destroy" and s["state"] == "running" for s in steps)

    assert (await poll_until(destroying, bool, timeout_s=10, interval_s=0.02)).done
    early = await api.client.post("/vm", json=vm_body("new"), headers=headers)
    assert (early.status_code, early.json()["error"]["code"]) == (409, "pool_exhausted")
    assert (await api.client.get("/pools/lan", headers=api.admin)).json()["addresses"] == {"10.60.0.2": vm["vmid"]}

    await wait_op(api, headers, deleting.headers["Location"])
    assert vm["vmid"] not in sim.cluster.vms
    assert (await api.client.get("/pools/lan", headers=api.admin)).json()["addresses"] == {}
    sim.set_task_duration("qmdestroy", 0.15)
    new = await create_vm(api, headers, name="new")
    assert pool_addresses(new) == ["10.60.0.2"]
    assert sim.cluster.vms[new["vmid"]].config["ipconfig0"] == "ip=10.60.0.2/30,gw=10.60.0.1"


async def test_a_failover_moves_the_vm_to_an_address_of_the_new_nodes_pool(api: Api, sim: PveSim) -> None:
    await make_pool(api, name="one", cidr="10.71.0.0/24", gateway="10.71.0.1", nodes=["sv1"])
    await make_pool(api, name="rest", cidr="10.72.0.0/24", gateway="10.72.0.1", nodes=["sv2", "sv3", "sv4"],
                    vlan=None, bridge="vmbr2")  # fmt: skip
    key = await api.new_user("alice")
    headers = api.as_key(key)
    sim.faults.set_node_out_of_memory("sv1")  # the clone on sv1 fails; its partial VM removes itself
    resp = await api.client.post("/vm", json=vm_body(node="sv1"), headers=headers)
    assert resp.status_code == 202, resp.text
    # Allocated at the request, on the preferred node.
    held = (await api.client.get("/pools/one", headers=api.admin)).json()["addresses"]
    assert held in ({"10.71.0.2": resp.json()["vmid"]}, {})
    op = await wait_op(api, headers, resp.headers["Location"])
    assert op["state"] == "succeeded", op
    node = op["result"]["node"]
    assert node in ("sv2", "sv3", "sv4")
    vm = (await api.client.get(f"/vm/{op['result']['vmid']}", headers=headers)).json()
    assert pool_addresses(vm) == ["10.72.0.2"]
    pve = sim.cluster.vms[vm["vmid"]]
    assert pve.config["ipconfig0"] == "ip=10.72.0.2/24,gw=10.72.0.1"
    assert "tag=" not in pve.config["net0"]
    assert "bridge=vmbr2" in pve.config["net0"]
    assert (await api.client.get("/pools/one", headers=api.admin)).json()["addresses"] == {}


async def test_a_race_that_exhausts_the_pool_fails_the_loser_cleanly(api: Api, sim: PveSim) -> None:
    await make_pool(api, cidr="10.80.0.0/30", gateway="10.80.0.1")  # one address
    users = [await api.new_user(f"user{i}") for i in range(2)]
    responses = await asyncio.gather(
        *(api.client.post("/vm", json=vm_body(f"vm{i}"), headers=api.as_key(k)) for i, k in enumerate(users))
    )
    outcomes = []
    for key, resp in zip(users, responses, strict=True):
        if resp.status_code == 409:
            outcomes.append(resp.json()["error"]["code"])
            continue
        assert resp.status_code == 202, resp.text
        op = await wait_op(api, api.as_key(key), resp.headers["Location"])
        outcomes.append("succeeded" if op["state"] == "succeeded" else op["error"]["code"])
    assert sorted(outcomes) == ["pool_exhausted", "succeeded"], outcomes
    (survivor,) = our_vms(sim).values()
    assert survivor.config["ipconfig0"] == "ip=10.80.0.2/30,gw=10.80.0.1"
    assert (await api.client.get("/pools/lan", headers=api.admin)).json()["addresses"] == {"10.80.0.2": survivor.vmid}
