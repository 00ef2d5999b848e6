"""Operations: the state of slow work."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query

from cloudfaster.api.deps import CursorQuery, LimitQuery, PrincipalDep, StateDep
from cloudfaster.api.schemas.core import OperationRead, Page
from cloudfaster.core import operations as op_service
from cloudfaster.db.models import Operation

router = APIRouter(prefix="/operations", tags=["operations"])

OpState = Literal["pending", "running", "succeeded", "failed", "cancelled"]


@router.get("", response_model=Page[OperationRead])
async def list_operations(
    state: StateDep,
    principal: PrincipalDep,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
    op_state: OpState | None = Query(default=None, alias="state"),
) -> Page[OperationRead]:
    """The caller's operations (admins: all), oldest first."""
    async with state.db.read() as session:
        page = await op_service.list_operations(session, principal, limit=limit, cursor=cursor, state=op_state)
    return Page(items=[OperationRead.model_validate(op) for op in page.items], next_cursor=page.next_cursor)


@router.get("/{op_id}", response_model=OperationRead)
async def get_operation(op_id: str, state: StateDep, principal: PrincipalDep) -> Operation:
    """One operation: state, steps, result or error (owner or admin)."""
    return await op_service.get_operation(state.db, principal, op_id)
