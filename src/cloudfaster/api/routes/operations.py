"""Operations: the state of slow work."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from cloudfaster.api.accepted import WaitQuery
from cloudfaster.api.deps import AuthFirstRoute, CursorQuery, LimitQuery, PrincipalDep, StateDep
from cloudfaster.api.schemas.core import OperationRead, Page
from cloudfaster.core import operations as op_service
from cloudfaster.db.models import Operation

router = APIRouter(prefix="/operations", tags=["operations"], route_class=AuthFirstRoute)

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
async def get_operation(
    op_id: Annotated[str, Path(max_length=36)], state: StateDep, principal: PrincipalDep, wait: WaitQuery = 0
) -> Operation:
    """One operation: state, steps, result or error (owner or admin). ``?wait=SECONDS`` blocks until it ends
    (or the wait runs out); the answer is 200 with the operation whatever its outcome."""
    op = await op_service.get_operation(state.db, principal, op_id)
    if wait > 0 and op.state in op_service.ACTIVE_STATES:
        op = await op_service.wait_for_end(state.db, op.id, wait)
    return op
