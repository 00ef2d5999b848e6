"""Two worker processes and one backup schedule that falls due while both poll it: one backup, not two."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pvesim.testing import PveSim
from sqlalchemy import func, select, update

from cloudfaster.db.engine import Database
from cloudfaster.db.models import BackupSchedule, Operation, VmBackup
from tests.scale.cluster import cluster_settings, running_cluster
from tests.support.app import make_settings, running_api
from tests.support.rig import port_open, require
from tests.vms.conftest import proxmox_settings
from tests.vms.helpers import create_vm


async def test_two_workers_run_a_due_schedule_once(sim: PveSim, mariadb_url: str, tmp_path: Path) -> None:
    require(port_open(6379), "Redis on 127.0.0.1:6379")
    settings = make_settings(tmp_path / "setup", mariadb_url, proxmox=proxmox_settings(sim))
    async with running_api(settings) as api:
        alice = api.as_key(await api.new_user("alice"))
        vmid = (await create_vm(api, alice, name="nightly"))["vmid"]
        start = (datetime.now(UTC) + timedelta(hours=6)).strftime("%H:00")  # a window not open now
        body = {"frequency": "daily", "window_start": start, "window_minutes": 120, "retention": 3}
        assert (await api.client.put(f"/vm/{vmid}/backup-schedule", json=body, headers=alice)).status_code == 200

    shared = cluster_settings(database_url=mariadb_url, broker="redis", root=tmp_path, sim=sim, namespace="",
                              port_start=30000)  # fmt: skip
    shared["proxmox"]["schedule_interval_s"] = 0.2
    sim.set_task_duration("vzdump", 1.0)
    db = Database(mariadb_url)
    try:
        with running_cluster(tmp_path, shared, apis=0, workers=2) as cluster:
            assert len(cluster.workers) == 2
            async with db.write() as session:  # the window opens while both workers poll every 0.2 s
                await session.execute(
                    update(BackupSchedule)
                    .where(BackupSchedule.vmid == vmid)
                    .values(next_run_at=datetime.now(UTC) - timedelta(minutes=1))
                )
            for _ in range(300):
                async with db.read() as session:
                    states = list((await session.execute(
                        select(Operation.state).where(Operation.kind == "vm.backup"))).scalars())  # fmt: skip
                if states and all(state == "succeeded" for state in states):
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(2)  # ten more passes of each worker
            log = cluster.logs()
        async with db.read() as session:
            ops = list((await session.execute(select(Operation).where(Operation.kind == "vm.backup"))).scalars())
            backups = (await session.execute(select(func.count(VmBackup.id)))).scalar_one()
            schedule = await session.get(BackupSchedule, vmid)
    finally:
        await db.dispose()
    assert [op.state for op in ops] == ["succeeded"], log
    assert backups == 1
    assert [t["type"] for t in sim.simulator.tasks.to_json()].count("vzdump") == 1
    assert len(sim.cluster.backups) == 1
    assert schedule is not None
    assert schedule.next_run_at > datetime.now(UTC)
    assert schedule.last_backup_id is not None
