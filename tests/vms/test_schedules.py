"""Backup schedules: their windows, the API, retention, and a missed window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pvesim.testing import PveSim
from sqlalchemy import update

from cloudfaster.db.models import BackupSchedule
from cloudfaster.vms import backup_store
from cloudfaster.vms.schedules import ScheduleSpec, first_window, following_window, run_due, start_window
from tests.support.app import Api
from tests.vms.helpers import create_vm, wait_op

MONDAY = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def test_windows_daily_and_weekly() -> None:
    daily = ScheduleSpec("daily", None, 2 * 60, 60, 3)
    assert first_window(daily, MONDAY) == datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    assert first_window(daily, MONDAY.replace(hour=2, minute=30)) == MONDAY.replace(hour=2, minute=0)  # open now
    assert following_window(daily, MONDAY.replace(hour=2)) == datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    weekly = ScheduleSpec("weekly", 6, 23 * 60 + 30, 120, 4)  # Sunday 23:30, over midnight
    assert first_window(weekly, MONDAY) == datetime(2026, 12, 6, 23, 30, tzinfo=UTC)
    assert first_window(weekly, datetime(2026, 12, 7, 0, 30, tzinfo=UTC)) == datetime(2026, 12, 6, 23, 30, tzinfo=UTC)
    assert following_window(weekly, datetime(2026, 12, 6, 23, 30, tzinfo=UTC)) == datetime(2026, 12, 13, 23, 30,
                                                                                              tzinfo=UTC)  # fmt: skip


async def _make_due(api: Api, vmid: int, *, ago: timedelta = timedelta(minutes=1)) -> None:
    db = api.app.state.cf.instance.db
    async with db.write() as session:
        await session.execute(
            update(BackupSchedule).where(BackupSchedule.vmid == vmid).values(next_run_at=datetime.now(UTC) - ago)
        )


async def test_schedule_api_retention_and_missed_window(api: Api, sim: PveSim) -> None:
    alice = api.as_key(await api.new_user("alice"))
    bob = api.as_key(await api.new_user("bob"))
    vmid = (await create_vm(api, alice, name="nightly"))["vmid"]
    assert (await api.client.get(f"/vm/{vmid}/backup-schedule", headers=alice)).status_code == 404
    for bad in ({"frequency": "weekly", "window_start": "01:00"}, {"frequency": "daily", "window_start": "25:00"},
                {"frequency": "daily", "window_start": "01:00", "retention": 0}):  # fmt: skip
        assert (await api.client.put(f"/vm/{vmid}/backup-schedule", json=bad, headers=alice)).status_code == 422
    # A window that is not open now, whenever the test runs (inside it, the next run is the open window's start).
    start = (datetime.now(UTC) + timedelta(hours=6)).strftime("%H:00")
    body = {"frequency": "daily", "window_start": start, "window_minutes": 60, "retention": 2}
    assert (await api.client.put(f"/vm/{vmid}/backup-schedule", json=body, headers=bob)).status_code == 404
    resp = await api.client.put(f"/vm/{vmid}/backup-schedule", json=body, headers=alice)
    assert resp.status_code == 200, resp.text
    assert resp.json()["window_start"] == start

    rt = api.app.state.cf.instance.vms.runtime
    made = []
    for _ in range(3):
        await _make_due(api, vmid)
        (op_id,) = await run_due(rt)
        assert await run_due(rt) == []  # the window is taken: a second pass starts nothing
        op = await wait_op(api, alice, f"/operations/{op_id}")
        assert op["state"] == "succeeded", op
        made.append(op["result"]["backup_id"])
    backups = (await api.client.get(f"/vm/{vmid}/backups", headers=alice)).json()["items"]
    assert [b["id"] for b in backups] == made[1:]  # retention 2: the oldest scheduled backup went
    assert all(b["scheduled"] for b in backups)
    assert len(sim.cluster.backups) == 2
    schedule = (await api.client.get(f"/vm/{vmid}/backup-schedule", headers=alice)).json()
    assert schedule["last_backup_id"] == made[-1]
    assert datetime.fromisoformat(schedule["next_run_at"]) > datetime.now(UTC)

    await _make_due(api, vmid, ago=timedelta(hours=2))  # the whole window passed while no worker ran
    assert await run_due(rt) == []
    schedule = (await api.client.get(f"/vm/{vmid}/backup-schedule", headers=alice)).json()
    assert schedule["last_error"]["code"] == "window_missed"
    assert datetime.fromisoformat(schedule["next_run_at"]) > datetime.now(UTC)
    assert (await api.client.delete(f"/vm/{vmid}/backup-schedule", headers=alice)).status_code == 204
    assert (await api.client.get(f"/vm/{vmid}/backup-schedule", headers=alice)).status_code == 404


@pytest.mark.parametrize("database_url", ["sqlite", "mariadb"], indirect=True)
async def test_two_workers_that_read_the_same_due_window_start_one_backup(api: Api, sim: PveSim) -> None:
    """Both read the schedule while it is due; the first claims it and its backup even finishes before the second
    tries: the second's compare-and-set finds the window taken."""
    alice = api.as_key(await api.new_user("alice"))
    vmid = (await create_vm(api, alice, name="raced"))["vmid"]
    body = {"frequency": "daily", "window_start": "03:00", "window_minutes": 60, "retention": 5}
    await api.client.put(f"/vm/{vmid}/backup-schedule", json=body, headers=alice)
    await _make_due(api, vmid)
    rt = api.app.state.cf.instance.vms.runtime
    now = datetime.now(UTC)
    (first_read,) = await backup_store.due_schedules(rt.db, now)
    (second_read,) = await backup_store.due_schedules(rt.db, now)
    op = await start_window(rt, first_read, now)
    assert op is not None
    await rt.runner.dispatch(op.id)
    assert (await wait_op(api, alice, f"/operations/{op.id}"))["state"] == "succeeded"
    assert await start_window(rt, second_read, now) is None
    assert [t["type"] for t in sim.simulator.tasks.to_json()].count("vzdump") == 1
    assert len((await api.client.get(f"/vm/{vmid}/backups", headers=alice)).json()["items"]) == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_busy_vm_keeps_its_window_due(api: Api, sim: PveSim) -> None:
    alice = api.as_key(await api.new_user("alice"))
    vmid = (await create_vm(api, alice, name="busy"))["vmid"]
    body = {"frequency": "daily", "window_start": "03:00", "window_minutes": 60, "retention": 2}
    await api.client.put(f"/vm/{vmid}/backup-schedule", json=body, headers=alice)
    sim.set_task_duration("qmstop", 1.0)
    stop = await api.client.post(f"/vm/{vmid}/stop", headers=alice)
    assert stop.status_code == 202
    await _make_due(api, vmid)
    rt = api.app.state.cf.instance.vms.runtime
    assert await run_due(rt) == []  # one operation per VM: the backup waits for the next pass
    await wait_op(api, alice, stop.headers["Location"])
    assert len(await run_due(rt)) == 1
