"""Day two keeps the address rules of IP pools: a restore into a new VM gets its address through the create path,
a rebuild and a restore in place keep the VM's address."""

from __future__ import annotations

from pvesim.testing import PveSim

from tests.support.app import Api
from tests.vms.helpers import create_vm
from tests.vms.pool_helpers import make_pool, pool_addresses
from tests.vms.test_snapshots import run


async def test_restore_into_a_new_vm_takes_a_pool_address_like_a_create(api: Api, sim: PveSim) -> None:
    await make_pool(api, cidr="10.40.0.0/24", gateway="10.40.0.1", excluded=["10.40.0.2-10.40.0.9"])
    alice = api.as_key(await api.new_user("alice"))
    first = await create_vm(api, alice, name="first", node="sv2")
    second = await create_vm(api, alice, name="second", node="sv2")
    assert pool_addresses(first) == ["10.40.0.10"]
    assert pool_addresses(second) == ["10.40.0.11"]
    op = await run(api, alice, "POST", f"/vm/{first['vmid']}/backups")
    backup_id = op["result"]["backup_id"]

    op = await run(api, alice, "POST", f"/backups/{backup_id}/restore", target="new", name="copy")
    copy = (await api.client.get(f"/vm/{op['target_id']}", headers=alice)).json()
    pve = sim.cluster.vms[copy["vmid"]].config
    assert pool_addresses(copy) == ["10.40.0.12"]  # its own address, not the one in the backup
    assert pve["ipconfig0"] == "ip=10.40.0.12/24,gw=10.40.0.1"
    assert sorted(pve["net0"].split(",")[1:]) == ["bridge=vmbr1", "tag=42"]
    assert pve["net0"].split(",")[0] != sim.cluster.vms[first["vmid"]].config["net0"].split(",")[0]  # new MAC

    op = await run(api, alice, "POST", f"/vm/{second['vmid']}/rebuild", confirm="second")
    rebuilt = (await api.client.get(f"/vm/{second['vmid']}", headers=alice)).json()
    assert pool_addresses(rebuilt) == ["10.40.0.11"]
    assert sim.cluster.vms[second["vmid"]].config["ipconfig0"] == "ip=10.40.0.11/24,gw=10.40.0.1"
    assert sim.cluster.vms[second["vmid"]].config["net0"] == second["live"]["config"]["net0"]  # the same MAC

    await run(api, alice, "POST", f"/backups/{backup_id}/restore", target="same")
    again = (await api.client.get(f"/vm/{first['vmid']}", headers=alice)).json()
    assert pool_addresses(again) == ["10.40.0.10"]
    assert sim.cluster.vms[first["vmid"]].config["ipconfig0"] == "ip=10.40.0.10/24,gw=10.40.0.1"
