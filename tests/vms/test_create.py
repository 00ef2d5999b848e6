"""Creating VMs end to end against pvesim through proxmoxer."""

from __future__ import annotations

from urllib.parse import unquote

from pvesim.testing import PveSim
from tests.support.app import Api
from tests.vms.helpers import ssh_key, vm_body, wait_op


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
    assert done == ["place", f"clone@{node}", f"configure@{node}", f"resize@{node}", f"start@{node}"]

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
