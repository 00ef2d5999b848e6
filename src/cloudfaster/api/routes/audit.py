"""The audit trail, for admins."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from cloudfaster.api.deps import AdminDep, CursorQuery, LimitQuery, StateDep
from cloudfaster.api.schemas.core import AuditEventRead, Page
from cloudfaster.core import audit as audit_service

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("", response_model=Page[AuditEventRead])
async def list_audit_events(
    state: StateDep,
    _: AdminDep,
    userid: str | None = Query(default=None, max_length=64),
    action: str | None = Query(default=None, max_length=64),
    target: str | None = Query(default=None, max_length=200),
    result: Literal["ok", "denied", "error"] | None = None,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[AuditEventRead]:
    """Audited calls matching the filters, oldest first (admin only)."""
    filters = audit_service.AuditFilter(
        userid=userid, action=action, target=target, result=result, since=since, until=until
    )
    async with state.db.read() as session:
        page = await audit_service.list_events(session, filters, limit=limit, cursor=cursor)
    return Page(items=[AuditEventRead.model_validate(e) for e in page.items], next_cursor=page.next_cursor)
