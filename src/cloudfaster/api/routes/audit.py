"""The audit trail, for admins."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query

from cloudfaster.api.deps import AdminDep, AuthFirstRoute, CursorQuery, LimitQuery, StateDep
from cloudfaster.api.schemas.core import AuditEventRead, IsoTimestamp, Page
from cloudfaster.core import audit as audit_service

TARGET_FORMAT = "What the call acted on, matched exactly: `userid=alice`, `vmid=1000`, `service_id=7`, `key=PREFIX`"
router = APIRouter(prefix="/audit", tags=["audit"], route_class=AuthFirstRoute)


@router.get("", response_model=Page[AuditEventRead])
async def list_audit_events(
    state: StateDep,
    _: AdminDep,
    userid: str | None = Query(default=None, max_length=64),
    action: str | None = Query(default=None, max_length=64),
    target: str | None = Query(
        default=None,
        max_length=200,
        description="Exact match: `userid=alice`, `vmid=1000`, `service_id=7`, `key=PREFIX`",
    ),
    result: Literal["ok", "denied", "error"] | None = None,
    since: IsoTimestamp | None = None,
    until: IsoTimestamp | None = None,
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
