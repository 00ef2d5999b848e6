"""Answering a call that started an operation: 202 with ``Location``, or the end state after ``?wait=``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Header, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from cloudfaster.api.error_codes import BY_CODE, FAILED_OPERATION_STATUS
from cloudfaster.api.errors import error_response
from cloudfaster.core.operations import ACTIVE_STATES
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
    """200 when nothing was started (the resource already is as asked); 202 with ``Location`` while the operation
    runs; ``done_status`` once it has succeeded; the operation's error once it has failed or was cancelled."""
    if op is None:
        return JSONResponse(body.model_dump(mode="json"))
    location = {"Location": f"/operations/{op.id}"}
    if op.state in ACTIVE_STATES:
        return JSONResponse(body.model_dump(mode="json"), status_code=202, headers=location)
    if op.state == "succeeded":
        return JSONResponse(body.model_dump(mode="json"), status_code=done_status, headers=location)
    return operation_failed(op)


def operation_failed(op: Operation) -> JSONResponse:
    """A failed or cancelled operation as an error: the status of its error code (docs/errors.md), its code,
    message and details, and the operation in ``details.operation``."""
    error = op.error or {}
    fallback = "operation_cancelled" if op.state == "cancelled" else "operation_failed"
    code = str(error.get("code") or fallback)
    entry = BY_CODE.get(code)
    status = entry.status if entry is not None and entry.status >= 400 else FAILED_OPERATION_STATUS
    cause = error.get("details")
    details: dict[str, Any] = cause if isinstance(cause, dict) else ({} if cause is None else {"cause": cause})
    details = {**details, "operation": operation_ref(op).model_dump(mode="json", exclude={"error"})}
    message = str(error.get("message") or f"the operation {op.state}")
    return error_response(status, code, message, details, headers={"Location": f"/operations/{op.id}"})
