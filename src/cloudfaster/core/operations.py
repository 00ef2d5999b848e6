"""Operations: creation with idempotency keys and one-active-per-resource, and reads."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cloudfaster.core.errors import ConflictError, NotFoundError
from cloudfaster.core.pagination import PageOf
from cloudfaster.core.principal import Principal
from cloudfaster.db.engine import Database
from cloudfaster.db.models import Operation

ACTIVE_STATES = ("pending", "running")
TERMINAL_STATES = ("succeeded", "failed", "cancelled")


def request_hash(payload: Any) -> str:
    """A stable hash of a request body, to tell a replay from a different request under the same key."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Replay:
    """An earlier operation found under the same Idempotency-Key and body."""

    operation: Operation


async def find_replay(
    session: AsyncSession, *, owner_userid: str, idempotency_key: str | None, body_hash: str
) -> Replay | None:
    """The operation an Idempotency-Key already produced, or None; the same key with another body is a 409."""
    if not idempotency_key:
        return None
    op = (
        await session.execute(
            select(Operation).where(
                Operation.owner_userid == owner_userid, Operation.idempotency_key == idempotency_key
            )
        )
    ).scalar_one_or_none()
    if op is None:
        return None
    if op.request_hash != body_hash:
        raise ConflictError(
            "this Idempotency-Key was already used with a different request", code="idempotency_key_reused"
        )
    return Replay(op)


async def active_operation(session: AsyncSession, target_type: str, target_id: str) -> Operation | None:
    """The operation currently running on a resource, if any."""
    return (
        await session.execute(select(Operation).where(Operation.active_target == f"{target_type}:{target_id}"))
    ).scalar_one_or_none()


def new_operation(
    *,
    kind: str,
    target_type: str,
    target_id: str,
    owner_userid: str,
    params: dict[str, Any],
    idempotency_key: str | None,
    body_hash: str | None,
) -> Operation:
    """A pending operation row, ready to add to the session of the resource change it belongs to."""
    return Operation(
        id=str(uuid.uuid4()),
        kind=kind,
        target_type=target_type,
        target_id=target_id,
        active_target=f"{target_type}:{target_id}",
        owner_userid=owner_userid,
        idempotency_key=idempotency_key,
        request_hash=body_hash,
        params=params,
        state="pending",
        steps=[],
        checkpoints={},
        attempt=0,
    )


async def flush_operation(session: AsyncSession, op: Operation) -> None:
    """Insert the operation; a resource that already has an active operation is a 409."""
    existing = await active_operation(session, op.target_type, op.target_id)
    if existing is not None:
        raise _busy(existing)
    session.add(op)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise ConflictError(
            f"{op.target_type} {op.target_id} already has an operation in progress",
            code="operation_in_progress",
        ) from exc


def _busy(existing: Operation) -> ConflictError:
    return ConflictError(
        f"{existing.target_type} {existing.target_id} already has an operation in progress",
        code="operation_in_progress",
        details={"operation_id": existing.id, "kind": existing.kind},
    )


async def get_operation(db: Database, principal: Principal, op_id: str) -> Operation:
    """An operation the caller may see, else 404."""
    async with db.read() as session:
        op = await session.get(Operation, op_id)
    if op is None or not principal.can_see(op.owner_userid):
        raise NotFoundError("operation not found")
    return op


async def list_operations(
    session: AsyncSession, principal: Principal, *, limit: int, cursor: str | None, state: str | None
) -> PageOf[Operation]:
    """The caller's operations, newest last, one page at a time (admins see all)."""
    query = select(Operation)
    if not principal.is_admin:
        query = query.where(Operation.owner_userid == principal.userid)
    if state:
        query = query.where(Operation.state == state)
    query = query.order_by(Operation.created_at, Operation.id)
    return await _paginate_ops(session, query, limit=limit, cursor=cursor)


async def _paginate_ops(session: AsyncSession, query: Any, *, limit: int, cursor: str | None) -> PageOf[Operation]:
    if cursor:
        anchor = await session.get(Operation, cursor)
        if anchor is None:
            raise NotFoundError("cursor operation not found", code="invalid_cursor")
        query = query.where(
            (Operation.created_at > anchor.created_at)
            | ((Operation.created_at == anchor.created_at) & (Operation.id > anchor.id))
        )
    rows = list((await session.execute(query.limit(limit + 1))).scalars())
    has_more = len(rows) > limit
    rows = rows[:limit]
    return PageOf(items=rows, next_cursor=rows[-1].id if has_more and rows else None)


__all__ = [
    "ACTIVE_STATES",
    "TERMINAL_STATES",
    "Replay",
    "active_operation",
    "find_replay",
    "flush_operation",
    "get_operation",
    "list_operations",
    "new_operation",
    "request_hash",
    "wait_for_end",
]


async def wait_for_end(db: Database, op_id: str, wait_s: float, *, poll_s: float = 0.05) -> Operation:
    """The operation once it has ended, or as it is when ``wait_s`` runs out."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    while True:
        async with db.read() as session:
            op = await session.get(Operation, op_id)
        assert op is not None
        if op.state in TERMINAL_STATES or loop.time() >= deadline:
            return op
        await asyncio.sleep(min(poll_s, max(0.0, deadline - loop.time())))
