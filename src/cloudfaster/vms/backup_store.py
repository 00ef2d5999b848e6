"""Backup and backup-schedule rows: tenant lookups, the one writer of a backup's status, retention and the
compare-and-set that claims a schedule's window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cloudfaster.core.errors import NotFoundError
from cloudfaster.core.lifecycle import StatusTransitionError
from cloudfaster.core.pagination import PageOf, paginate
from cloudfaster.core.principal import Principal
from cloudfaster.db.base import utcnow
from cloudfaster.db.engine import Database
from cloudfaster.db.models import BackupSchedule, User, VmBackup
from cloudfaster.vms.status import BACKUP_LIFECYCLE

# ---------------------------------------------------------------------------------------------------- backups


@dataclass(frozen=True, slots=True)
class OwnedBackup:
    """A backup row and its owner's userid (None once the owner is gone)."""

    backup: VmBackup
    owner: str | None


def _backups_with_owner() -> Select[VmBackup, str]:
    return select(VmBackup, User.userid).outerjoin(User, User.id == VmBackup.user_id)


async def get_backup(session: AsyncSession, principal: Principal, backup_id: int) -> OwnedBackup:
    """A backup the caller may see; another user's is a 404."""
    row = (await session.execute(_backups_with_owner().where(VmBackup.id == backup_id))).one_or_none()
    if row is None or not principal.can_see(row[1]):
        raise NotFoundError(f"backup {backup_id} not found", code="backup_not_found")
    return OwnedBackup(row[0], row[1])


async def list_backups(
    session: AsyncSession, principal: Principal, *, vmid: int | None, limit: int, cursor: str | None
) -> PageOf[OwnedBackup]:
    """The caller's backups (admins: everyone's), oldest first, deleted ones left out."""
    query = _backups_with_owner().where(VmBackup.status != "deleted")
    if not principal.is_admin:
        query = query.where(User.userid == principal.userid)
    if vmid is not None:
        query = query.where(VmBackup.vmid == vmid)
    page = await paginate(session, query, [VmBackup.id], limit=limit, cursor=cursor, scalars=False)
    return page.map(lambda row: OwnedBackup(row[0], row[1]))


async def set_backup_status(session: AsyncSession, backup_id: int, new: str, **columns: Any) -> None:
    """Move a backup to status ``new`` (and set ``columns``): the only writer of ``VmBackup.status``."""
    result = await session.execute(
        update(VmBackup)
        .where(VmBackup.id == backup_id, VmBackup.status.in_(BACKUP_LIFECYCLE.sources(new)))
        .values(status=new, **columns)
        .execution_options(synchronize_session="fetch")
    )
    if result.rowcount == 1:  # type: ignore[attr-defined]
        return
    current = (await session.execute(select(VmBackup.status).where(VmBackup.id == backup_id))).scalar_one()
    BACKUP_LIFECYCLE.check(current, new)
    raise StatusTransitionError(f"backup {backup_id} changed status while it was being set to {new!r}")


async def backup_row(db: Database, backup_id: int) -> VmBackup:
    """A backup row by id (for operation kinds)."""
    async with db.read() as session:
        return (await session.execute(select(VmBackup).where(VmBackup.id == backup_id))).scalar_one()


async def write_backup_status(db: Database, backup_id: int, new: str, **columns: Any) -> None:
    """``set_backup_status`` in a transaction of its own."""
    async with db.write() as session:
        await set_backup_status(session, backup_id, new, **columns)


async def scheduled_beyond(db: Database, vmid: int, keep: int) -> list[VmBackup]:
    """The VM's available scheduled backups beyond the newest ``keep``, oldest first."""
    async with db.read() as session:
        rows = list(
            (
                await session.execute(
                    select(VmBackup)
                    .where(VmBackup.vmid == vmid, VmBackup.scheduled.is_(True), VmBackup.status == "available")
                    .order_by(VmBackup.created_at.desc(), VmBackup.id.desc())
                )
            ).scalars()
        )
    return list(reversed(rows[keep:]))


# ---------------------------------------------------------------------------------------------------- schedules


async def get_schedule(session: AsyncSession, vmid: int) -> BackupSchedule | None:
    """A VM's backup schedule, if it has one."""
    return await session.get(BackupSchedule, vmid)


async def delete_schedule(session: AsyncSession, vmid: int) -> None:
    """Remove a VM's backup schedule (if any)."""
    schedule = await session.get(BackupSchedule, vmid)
    if schedule is not None:
        await session.delete(schedule)


async def due_schedules(db: Database, now: datetime) -> list[BackupSchedule]:
    """Schedules whose next window has begun."""
    async with db.read() as session:
        query = select(BackupSchedule).where(BackupSchedule.next_run_at <= now).order_by(BackupSchedule.next_run_at)
        return list((await session.execute(query)).scalars())


async def claim_schedule(session: AsyncSession, vmid: int, due: datetime, following: datetime, **columns: Any) -> bool:
    """Move a due schedule on to its following window with a compare-and-set: True for exactly one caller."""
    result = await session.execute(
        update(BackupSchedule)
        .where(BackupSchedule.vmid == vmid, BackupSchedule.next_run_at == due)
        .values(next_run_at=following, updated_at=utcnow(), **columns)
    )
    return result.rowcount == 1  # type: ignore[attr-defined, no-any-return]


async def update_schedule(session: AsyncSession, vmid: int, **values: Any) -> None:
    """Set columns of a VM's schedule (its last backup, its last error)."""
    await session.execute(
        update(BackupSchedule).where(BackupSchedule.vmid == vmid).values(updated_at=utcnow(), **values)
    )
