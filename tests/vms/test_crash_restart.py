"""kill -9 of a real server in the middle of a clone; the restarted server finishes the create exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from pvesim.testing import PveSim

from cloudfaster.db.engine import Database
from tests.support.app import ADMIN_KEY, free_port
from tests.support.databases import BACKENDS
from tests.support.operations import wait_for_row
from tests.vms.helpers import vm_body

REPO = Path(__file__).resolve().parents[2]


def start_server(sim: PveSim, database_url: str, data: Path, port: int) -> subprocess.Popen[bytes]:
    args = [database_url, str(data), str(port), str(sim.port), str(sim.ca_file), sim.token_id, sim.token_secret]
    return subprocess.Popen(
        [sys.executable, "-m", "tests.vms.vm_server", *args],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


async def until_up(client: httpx.AsyncClient) -> None:
    for _ in range(300):
        try:
            if (await client.get("/healthz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.05)
    raise AssertionError("server did not start")


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
async def test_kill_mid_clone_then_restart_finishes_the_create_once(
    sim: PveSim, database_url: str, tmp_path: Path
) -> None:
    sim.set_task_duration("qmclone", 2.0)
    port = free_port()
    admin = {"X-API-Key": ADMIN_KEY}
    db = Database(database_url)
    first = start_server(sim, database_url, tmp_path / "data", port)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=admin) as client:
            await until_up(client)
            assert (await client.post("/users", json={"userid": "alice", "username": "A"})).status_code == 201
            resp = await client.post("/vm", json=vm_body(userid="alice"))
            assert resp.status_code == 202, resp.text
        vmid, op_id = resp.json()["vmid"], resp.json()["operation"]["id"]
        saved = await wait_for_row(db, op_id, lambda o: any(k.startswith("clone_upid@") for k in o.checkpoints))
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    assert not any(k.startswith("clone@") for k in saved.checkpoints), "the clone must still be running"
    assert sim.cluster.vms[vmid].lock == "clone"

    second = start_server(sim, database_url, tmp_path / "data", port)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=admin) as client:
            await until_up(client)
            finished = await wait_for_row(db, op_id, lambda o: o.state in ("succeeded", "failed"))
            vm = (await client.get(f"/vm/{vmid}")).json()
    finally:
        second.terminate()
        second.wait(timeout=30)
        await db.dispose()

    assert finished.state == "succeeded", finished.error
    assert finished.attempt == 2
    assert vm["status"] == "enabled"
    assert vm["live"]["power"] == "running"
    clones = [t for t in sim.simulator.tasks.to_json() if t["type"] == "qmclone"]
    assert len(clones) == 1, clones
    starts = [t for t in sim.simulator.tasks.to_json() if t["type"] == "qmstart"]
    assert len(starts) == 1
    assert [vid for vid, v in sim.cluster.vms.items() if not v.is_template] == [vmid]
    clone_step = [s for s in finished.steps if s["name"].startswith("clone@") and s["state"] == "done"]
    assert [s["attempt"] for s in clone_step] == [2]  # the restarted runner waited on the saved UPID
