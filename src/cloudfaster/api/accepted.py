"""Answering a call that started an operation: 202 with ``Location``, or the end state after ``?wait=``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Header, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from cloudfaster.db.models import Operation

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key", max_length=200, description="Replaying the same key and body returns the same result"
    ),
]
WaitQuery = Annotated[float, Query(ge=0, le=600, description="Block up to this many seconds for the operation to end")]


class OperationRef(BaseModel):
    """The operation a call started."""

    id: str
    kind: str
    state: str
    url: str
    error: dict[str, Any] | None = None


def operation_ref(op: Operation) -> OperationRef:
    """A short reference to an operation, for embedding in a resource."""
    return OperationRef(id=op.id, kind=op.kind, state=op.state, url=f"/operations/{op.id}", error=op.error)


def maybe_ref(op: Operation | None) -> OperationRef | None:
    """``operation_ref`` of an operation, or None when nothing was started."""
    return None if op is None else operation_ref(op)


def accepted(body: BaseModel, op: Operation | None, *, done_status: int = 200) -> JSONResponse:
    """202 with ``Location`` while the operation runs; ``done_status`` once it has ended; 200 when nothing was
    started (the resource already is as asked)."""
    if op is None:
        return JSONResponse(body.model_dump(mode="json"))
    running = op.state in ("pending", "running")
    return JSONResponse(
        body.model_dump(mode="json"),
        status_code=202 if running else done_status,
        headers={"Location": f"/operations/{op.id}"},
    )
