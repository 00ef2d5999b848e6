"""kill -9 of a real server while a cascade waits on its VM deletions; the restarted server finishes the cascade
with each VM destroyed exactly once."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest
from pvesim.testing import PveSim

from cloudfaster.db.engine import Database
from tests.support.app import ADMIN_KEY, free_port
from tests.support.databases import BACKENDS
from tests.support.operations import wait_for_row
from tests.vms.conftest import database_url, sim
from tests.vms.helpers import vm_body
from tests.vms.test_crash_restart import start_server, until_up

__all__ = ["database_url", "sim"]


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
async def test_kill_mid_cascade_then_restart_finishes_it_once(sim: PveSim, database_url: str, tmp_path: Path) -> None:
    port = free_port()
    db = Database(database_url)
    first = start_server(sim, database_url, tmp_path / "data", port)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers={"X-API-Key": ADMIN_KEY}) as client:
            await until_up(client)
            assert (await client.post("/users", json={"userid": "alice", "username": "A"})).status_code == 201
            creates = [await client.post("/vm", json=vm_body(f"vm-{i}", userid="alice")) for i in range(2)]
            for made in creates:
                await wait_for_row(db, made.json()["operation"]["id"], lambda o: o.state == "succeeded")
            vmids = sorted(made.json()["vmid"] for made in creates)
            sim.set_task_duration("qmdestroy", 3.0)
            resp = await client.delete("/users/alice", params={"cascade": "true"})
            assert resp.status_code == 202, resp.text
        op_id = resp.json()["operation"]["id"]
        await wait_for_row(db, op_id, lambda o: bool(o.checkpoints.get("waited", {}).get("proxmox")))
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    assert all(vmid in sim.cluster.vms for vmid in vmids), "the VMs must still be being destroyed"

    second = start_server(sim, database_url, tmp_path / "data", port)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers={"X-API-Key": ADMIN_KEY}) as client:
            await until_up(client)
            finished = await wait_for_row(db, op_id, lambda o: o.state in ("succeeded", "failed"))
            user = await client.get("/users/alice")
    finally:
        second.terminate()
        second.wait(timeout=30)
        await db.dispose()

    assert finished.state == "succeeded", finished.error
    assert finished.attempt == 2
    assert user.status_code == 404
    assert [vmid for vmid, vm in sim.cluster.vms.items() if not vm.is_template] == []
    destroys = sorted(int(t["id"]) for t in sim.simulator.tasks.to_json() if t["type"] == "qmdestroy")
    assert destroys == vmids  # each VM destroyed once, across both servers
