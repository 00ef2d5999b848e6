"""Per-VM backup schedules (daily or weekly, in a UTC time window, keeping the last N) and the pass that worker
processes run to start the backups that are due.

Exactly once with any number of workers: a worker claims a due window by moving ``next_run_at`` on with a
compare-and-set ``UPDATE`` in the same transaction that records the backup and its operation, whose
Idempotency-Key names the window (``schedule:<vmid>:<window start>``), so a second claim of the same window can
neither win the ``UPDATE`` nor insert a second operation.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cloudfaster.core import operations as ops
from cloudfaster.core import users
from cloudfaster.core.errors import AppError, ConflictError, QuotaExceededError
from cloudfaster.core.principal import Principal
from cloudfaster.db.base import utcnow
from cloudfaster.db.models import BackupSchedule, Operation
from cloudfaster.vms import backup_store, store
from cloudfaster.vms.backups import record_backup
from cloudfaster.vms.runtime import VmRuntime
from cloudfaster.vms.service import get_vm

log = logging.getLogger("cloudfaster.vms.schedules")

# The scheduler acts for the owner of each VM, as an admin would.
SCHEDULER = Principal(key_id=0, key_prefix="scheduler", is_admin=True, user_id=None, userid=None)
Frequency = Literal["daily", "weekly"]


@dataclass(frozen=True, slots=True)
class ScheduleSpec:
    """When a VM is backed up: every day (or one weekday, 0 = Monday) in a window starting at ``start_minute``
    after 00:00 UTC and lasting ``window_minutes``; the newest ``retention`` scheduled backups are kept."""

    frequency: Frequency
    weekday: int | None
    start_minute: int
    window_minutes: int
    retention: int


def _window_start(spec: ScheduleSpec, day: datetime) -> datetime:
    midnight = day.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight + timedelta(minutes=spec.start_minute)


def _matches(spec: ScheduleSpec, start: datetime) -> bool:
    return spec.frequency == "daily" or start.weekday() == spec.weekday


def first_window(spec: ScheduleSpec, now: datetime) -> datetime:
    """The start of the first window that has not ended at ``now`` (it may have begun already)."""
    start = _window_start(spec, now) - timedelta(days=1)
    while not (_matches(spec, start) and start + timedelta(minutes=spec.window_minutes) > now):
        start += timedelta(days=1)
    return start


def following_window(spec: ScheduleSpec, start: datetime) -> datetime:
    """The start of the window after the one starting at ``start``."""
    return first_window(spec, start + timedelta(minutes=spec.window_minutes))


def spec_of(row: BackupSchedule) -> ScheduleSpec:
    """The spec a stored schedule describes."""
    frequency: Frequency = "weekly" if row.frequency == "weekly" else "daily"
    return ScheduleSpec(frequency, row.weekday, row.window_start_minute, row.window_minutes, row.retention)


async def set_schedule(rt: VmRuntime, principal: Principal, vmid: int, spec: ScheduleSpec) -> BackupSchedule:
    """Create or replace a VM's schedule; its next window is the first one not over yet."""
    vm = (await get_vm(rt, principal, vmid)).vm
    if vm.status in ("deleted", "deleting"):
        raise ConflictError(f"VM {vmid} is {vm.status}", code="vm_not_enabled")
    async with rt.db.write() as session:
        row = await backup_store.get_schedule(session, vmid)
        if row is None:
            row = BackupSchedule(vmid=vmid)
            session.add(row)
        row.frequency, row.weekday = spec.frequency, spec.weekday
        row.window_start_minute, row.window_minutes, row.retention = (
            spec.start_minute,
            spec.window_minutes,
            spec.retention,
        )
        row.next_run_at = first_window(spec, utcnow())
        row.last_error = None
        row.updated_at = utcnow()
    return row


async def get_schedule(rt: VmRuntime, principal: Principal, vmid: int) -> BackupSchedule | None:
    """A VM's schedule, or None (404 for another user's VM)."""
    await get_vm(rt, principal, vmid)
    async with rt.db.read() as session:
        return await backup_store.get_schedule(session, vmid)


async def delete_schedule(rt: VmRuntime, principal: Principal, vmid: int) -> None:
    """Remove a VM's schedule; its backups stay."""
    await get_vm(rt, principal, vmid)
    async with rt.db.write() as session:
        await backup_store.delete_schedule(session, vmid)


async def run_due(rt: VmRuntime) -> list[str]:
    """Start a backup for every schedule whose window has begun; returns the operations started."""
    started: list[str] = []
    now = utcnow()
    for row in await backup_store.due_schedules(rt.db, now):
        try:
            op = await start_window(rt, row, now)
        except AppError as exc:  # busy or not enabled: the window stays due and is tried again on the next pass
            log.info("scheduled backup of VM %s waits: %s", row.vmid, exc.message)
            continue
        except IntegrityError:  # another worker recorded this window's operation first
            continue
        if op is not None:
            await rt.runner.dispatch(op.id)
            started.append(op.id)
    return started


async def start_window(rt: VmRuntime, row: BackupSchedule, now: datetime) -> Operation | None:
    """Claim the window ``row`` was read with and record its backup; None when another worker claimed it first (or
    the window passed, or the VM is gone). ``row`` may be stale: the claim compares it with the database."""
    spec = spec_of(row)
    due = row.next_run_at
    following = following_window(spec, due)
    async with rt.db.write() as session:
        if now >= due + timedelta(minutes=row.window_minutes):
            error = {"code": "window_missed", "message": f"the window starting {due.isoformat()} passed", "at": now}
            await backup_store.claim_schedule(session, row.vmid, due, following, last_error=_json(error))
            return None
        if not await backup_store.claim_schedule(session, row.vmid, due, following, last_run_at=now, last_error=None):
            return None  # another worker took this window
        return await _record(session, rt, row, due)


async def _record(session: AsyncSession, rt: VmRuntime, row: BackupSchedule, due: datetime) -> Operation | None:
    owned = await store.get_vm(session, SCHEDULER, row.vmid)
    if owned.owner is None or owned.vm.status == "deleted":
        return None
    user = await users.get_user(session, SCHEDULER, owned.owner, lock=True)
    try:
        params = await record_backup(session, rt, owned.vm, user, scheduled=True, retention=row.retention)
    except QuotaExceededError as exc:  # a retry cannot fix it within the window: record it and move on
        await backup_store.update_schedule(session, row.vmid, last_error={"code": exc.code, "message": exc.message})
        return None
    key = f"schedule:{row.vmid}:{due.isoformat()}"
    op = ops.new_operation(
        kind="vm.backup", target_type="vm", target_id=str(row.vmid), owner_userid=owned.owner, params=params,
        idempotency_key=key, body_hash=ops.request_hash({"schedule": row.vmid, "window": due.isoformat()}),
    )  # fmt: skip
    await ops.flush_operation(session, op)
    await backup_store.update_schedule(session, row.vmid, last_backup_id=params.backup_id)
    return op


def _json(error: dict[str, object]) -> dict[str, object]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in error.items()}
