"""An operation's progress as Server-Sent Events: one event per change of its state or steps, until it ends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from cloudfaster.api.deps import PrincipalDep, StateDep
from cloudfaster.api.schemas.core import OperationRead
from cloudfaster.core import operations as op_service
from cloudfaster.core.operations import TERMINAL_STATES

router = APIRouter(prefix="/operations", tags=["operations"])

CHECK_INTERVAL_S = 0.25  # the row is the source of truth and may be written by a worker on another machine


@router.get("/{op_id}/events", response_class=EventSourceResponse)
async def operation_events(
    op_id: str, request: Request, state: StateDep, principal: PrincipalDep
) -> EventSourceResponse:
    """The operation as an ``operation`` event now and after every change; the stream ends when the operation does."""
    first = await op_service.get_operation(state.db, principal, op_id)

    async def events() -> AsyncIterator[ServerSentEvent]:
        op, last = first, ""
        while True:
            view = OperationRead.model_validate(op).model_dump_json()
            if view != last:
                yield ServerSentEvent(event="operation", data=view)
                last = view
            if op.state in TERMINAL_STATES or await request.is_disconnected():
                return
            await asyncio.sleep(CHECK_INTERVAL_S)
            op = await op_service.get_operation(state.db, principal, op_id)

    return EventSourceResponse(events(), ping=15, send_timeout=30)
