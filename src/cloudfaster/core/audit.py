"""The audit trail: every mutating call, who made it, on what, and how it ended."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloudfaster.core.pagination import PageOf, paginate
from cloudfaster.core.principal import Principal
from cloudfaster.db.base import utcnow
from cloudfaster.db.engine import Database
from cloudfaster.db.group_commit import GroupCommit
from cloudfaster.db.models import AuditEvent
from cloudfaster.logs.setup import AUDIT_LOGGER

log = logging.getLogger(AUDIT_LOGGER)

# The ``target`` of an event is what the call acted on, as ``<name>=<id>``; path parameters give it, renamed here.
TARGET_NAMES = {"userid": "userid", "vmid": "vmid", "service_id": "service_id", "prefix": "key", "op_id": "operation"}
# One list per audited call, shared by reference so a note made anywhere below the middleware reaches it.
_noted: ContextVar[list[str] | None] = ContextVar("cloudfaster_audit_target", default=None)


def begin_call() -> list[str]:
    """Start collecting the target of the current call (the middleware does this for every request)."""
    noted: list[str] = []
    _noted.set(noted)
    return noted


def note_target(name: str, value: object) -> None:
    """Name what the current call acts on (``vmid``, ``service_id``, ``userid``, ``key``); the last note wins."""
    noted = _noted.get()
    if noted is not None:
        noted.append(f"{name}={value}")


def target_of(noted: list[str], path_params: Mapping[str, object]) -> str | None:
    """The call's target: the last note, else its path parameters (``vmid=1000``), at most 200 characters."""
    if noted:
        return noted[-1][:200]
    parts = [f"{TARGET_NAMES[key]}={value}" for key, value in sorted(path_params.items()) if key in TARGET_NAMES]
    return ",".join(parts)[:200] or None


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """What an admin is looking for in the trail."""

    userid: str | None = None
    action: str | None = None
    target: str | None = None
    result: str | None = None
    since: datetime | None = None
    until: datetime | None = None


class AuditTrail:
    """Writes audit events to the database and the audit log file; the events of calls that end together share
    one transaction."""

    def __init__(self, db: Database) -> None:
        self._group: GroupCommit[AuditEvent, None] = GroupCommit(partial(_insert, db))

    async def record(
        self,
        *,
        principal: Principal | None,
        method: str,
        path: str,
        action: str,
        target: str | None,
        status_code: int,
        request_id: str | None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Write one audit event (it is in the database when this returns)."""
        result = "ok" if status_code < 400 else ("denied" if status_code in (401, 403, 404) else "error")
        event = AuditEvent(
            at=utcnow(),
            actor_key=principal.key_prefix if principal else None,
            actor_userid=principal.userid if principal else None,
            is_admin=bool(principal and principal.is_admin),
            method=method,
            path=path[:500],
            action=action,
            target=target,
            status_code=status_code,
            result=result,
            request_id=request_id,
            details=details,
        )
        await self._group.submit(event)
        log.info(
            "%s %s -> %s",
            method,
            path,
            status_code,
            extra={"audit_action": action, "target": target, "actor_key": event.actor_key, "result": result},
        )


async def _insert(db: Database, events: list[AuditEvent]) -> list[None]:
    async with db.write() as session:
        session.add_all(events)
    return [None] * len(events)


async def list_events(
    session: AsyncSession, filters: AuditFilter, *, limit: int, cursor: str | None
) -> PageOf[AuditEvent]:
    """Audit events matching the filters, oldest first, one page at a time."""
    query = select(AuditEvent)
    if filters.userid:
        query = query.where(AuditEvent.actor_userid == filters.userid)
    if filters.action:
        query = query.where(AuditEvent.action == filters.action)
    if filters.target:
        query = query.where(AuditEvent.target == filters.target)
    if filters.result:
        query = query.where(AuditEvent.result == filters.result)
    if filters.since:
        query = query.where(AuditEvent.at >= filters.since)
    if filters.until:
        query = query.where(AuditEvent.at < filters.until)
    return await paginate(session, query, [AuditEvent.id], limit=limit, cursor=cursor)
