"""kill -9 of a real server during a backup, a restore and a rebuild; after a restart each finishes exactly once:
one vzdump task and one archive, one restore and no half-restored VM, one destroy and one clone."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from pvesim.testing import PveSim

from cloudfaster.db.engine import Database
from cloudfaster.db.models import Operation
from tests.support.app import ADMIN_KEY, free_port
from tests.support.operations import wait_for_row
from tests.vms.helpers import vm_body
from tests.vms.test_crash_restart import start_server, until_up

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "mariadb"], indirect=True)
ADMIN = {"X-API-Key": ADMIN_KEY}
Start = Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]]


async def finish(client: httpx.AsyncClient, url: str) -> dict[str, Any]:
    """Wait for an operation through the API and return it, succeeded."""
    for _ in range(600):
        op: dict[str, Any] = (await client.get(url)).json()
        if op["state"] in ("succeeded", "failed"):
            assert op["state"] == "succeeded", op
            return op
        await asyncio.sleep(0.05)
    raise AssertionError(f"{url} did not finish")


async def kill_during(
    sim: PveSim, database_url: str, data: Path, task: str, checkpoint: str, start: Start
) -> tuple[Operation, int, dict[str, Any]]:
    """Make a VM, start an operation with ``start``, kill -9 the server once ``checkpoint`` (a saved UPID) is in
    the operation's row while ``task`` still runs, restart it; returns the finished row, the VM and its view."""
    port = free_port()
    db = Database(database_url)
    first = start_server(sim, database_url, data, port)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=ADMIN) as client:
            await until_up(client)
            assert (await client.post("/users", json={"userid": "alice", "username": "A"})).status_code == 201
            created = await client.post("/vm", json=vm_body(userid="alice", name="crashy"))
            vmid = created.json()["vmid"]
            await finish(client, created.headers["Location"])
            sim.set_task_duration(task, 2.0)
            resp = await start(client, vmid)
            assert resp.status_code == 202, resp.text
        op_id = resp.json()["operation"]["id"]
        await wait_for_row(db, op_id, lambda o: any(k.startswith(checkpoint) for k in o.checkpoints))
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    assert any(t["type"] == task and t["status"] == "running" for t in sim.simulator.tasks.to_json())

    second = start_server(sim, database_url, data, port)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=ADMIN) as client:
            await until_up(client)
            finished = await wait_for_row(db, op_id, lambda o: o.state in ("succeeded", "failed"), timeout_s=60)
            target = int(finished.target_id)
            view = (await client.get(f"/vm/{target}")).json()
    finally:
        second.terminate()
        second.wait(timeout=30)
        await db.dispose()
    assert finished.state == "succeeded", finished.error
    assert finished.attempt == 2
    return finished, vmid, view


def count(sim: PveSim, task: str) -> int:
    """How many tasks of a type pvesim ran."""
    return [t["type"] for t in sim.simulator.tasks.to_json()].count(task)


async def test_kill_during_a_backup(sim: PveSim, database_url: str, tmp_path: Path) -> None:
    async def start(client: httpx.AsyncClient, vmid: int) -> httpx.Response:
        return await client.post(f"/vm/{vmid}/backups")

    finished, vmid, view = await kill_during(sim, database_url, tmp_path / "data", "vzdump", "vzdump_upid", start)
    assert count(sim, "vzdump") == 1
    assert len(sim.cluster.backups) == 1
    assert view["status"] == "enabled"
    assert "lock" not in sim.cluster.vms[vmid].config
    (archive,) = sim.cluster.backups.values()
    assert archive["notes"] == f"cloudfaster-backup-{finished.result['backup_id']}"  # type: ignore[index]


async def test_kill_during_a_restore_into_a_new_vm(sim: PveSim, database_url: str, tmp_path: Path) -> None:
    async def start(client: httpx.AsyncClient, vmid: int) -> httpx.Response:
        sim.set_task_duration("qmrestore", 0.0)
        backup = await client.post(f"/vm/{vmid}/backups")
        done = await finish(client, backup.headers["Location"])
        assert (await client.delete(f"/vm/{vmid}", params={"wait": 30})).status_code == 200
        sim.set_task_duration("qmrestore", 2.0)
        return await client.post(f"/backups/{done['result']['backup_id']}/restore", json={"target": "new"})

    finished, old, view = await kill_during(sim, database_url, tmp_path / "data", "qmrestore", "restore_upid@", start)
    new = int(finished.target_id)
    assert count(sim, "qmrestore") == 1
    assert view["status"] == "enabled"
    assert view["live"]["power"] == "running"
    assert [v for v, vm in sim.cluster.vms.items() if not vm.is_template] == [new]  # no half-restored VM
    assert "lock" not in sim.cluster.vms[new].config
    assert old not in sim.cluster.vms


async def test_kill_during_a_rebuild(sim: PveSim, database_url: str, tmp_path: Path) -> None:
    async def start(client: httpx.AsyncClient, vmid: int) -> httpx.Response:
        return await client.post(f"/vm/{vmid}/rebuild", json={"confirm": "crashy"})

    finished, vmid, view = await kill_during(sim, database_url, tmp_path / "data", "qmclone", "clone_upid", start)
    assert int(finished.target_id) == vmid
    assert count(sim, "qmdestroy") == 1
    assert count(sim, "qmclone") == 2  # the create's and the rebuild's, none repeated
    assert view["status"] == "enabled"
    assert view["live"]["power"] == "running"
    assert [v for v, vm in sim.cluster.vms.items() if not vm.is_template] == [vmid]
