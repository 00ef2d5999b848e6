"""Operations: creation with idempotency keys and one-active-per-resource, and reads."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cloudfaster.core.errors import ConflictError, NotFoundError
from cloudfaster.core.pagination import PageOf, paginate
from cloudfaster.core.principal import Principal
from cloudfaster.core.runner import endings
from cloudfaster.db.engine import Database
from cloudfaster.db.models import Operation

R = TypeVar("R")
ACTIVE_STATES = ("pending", "running")
TERMINAL_STATES = ("succeeded", "failed", "cancelled")


def request_hash(payload: Any) -> str:
    """A stable hash of a request body, to tell a replay from a different request under the same key."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class Started(Generic[R]):
    """What a mutating call did: the resource, the operation it started (None: already as asked, nothing to do),
    and whether that operation is an earlier one replayed under the same Idempotency-Key."""

    resource: R
    operation: Operation | None
    replayed: bool = False


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
    params: BaseModel,
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
        params=params.model_dump(mode="json"),
        state="pending",
        steps=[],
        checkpoints={},
        attempt=0,
    )


async def flush_operation(session: AsyncSession, op: Operation, *, new_target: bool = False) -> None:
    """Insert the operation; a resource that already has an active operation is a 409.

    ``new_target``: the resource was made in this transaction, so nothing can be running on it and the look for
    an active operation (which names it in the 409) is skipped; the unique ``active_target`` still refuses one.
    """
    if not new_target:
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
    """The caller's operations, oldest first, one page at a time (admins see all)."""
    query = select(Operation)
    if not principal.is_admin:
        query = query.where(Operation.owner_userid == principal.userid)
    if state:
        query = query.where(Operation.state == state)
    return await paginate(session, query, [Operation.created_at, Operation.id], limit=limit, cursor=cursor)


async def shown_operation(session: AsyncSession, target_type: str, target_id: str) -> Operation | None:
    """The operation a resource's GET shows: its active one (pending or running) if any, otherwise its latest."""
    active = await active_operation(session, target_type, target_id)
    if active is not None:
        return active
    latest = (
        select(Operation)
        .where(Operation.target_type == target_type, Operation.target_id == target_id)
        .order_by(Operation.created_at.desc(), Operation.id.desc())
        .limit(1)
    )
    return (await session.execute(latest)).scalar_one_or_none()


async def count_by_kind_and_state(session: AsyncSession) -> list[tuple[str, str, int]]:
    """How many operations there are of each kind in each state."""
    query = select(Operation.kind, Operation.state, func.count()).group_by(Operation.kind, Operation.state)
    return [(kind, state, count) for kind, state, count in (await session.execute(query)).all()]


async def busy_targets(session: AsyncSession, target_type: str) -> set[str]:
    """The ids of the resources of ``target_type`` that have an operation pending or running."""
    rows = await session.execute(
        select(Operation.target_id).where(Operation.target_type == target_type, Operation.state.in_(ACTIVE_STATES))
    )
    return set(rows.scalars())


async def active_params(session: AsyncSession) -> list[dict[str, Any]]:
    """The parameters of every pending or running operation."""
    rows = await session.execute(select(Operation.params).where(Operation.state.in_(ACTIVE_STATES)))
    return [params for params in rows.scalars() if isinstance(params, dict)]


__all__ = [
    "ACTIVE_STATES",
    "TERMINAL_STATES",
    "Replay",
    "Started",
    "active_operation",
    "active_params",
    "busy_targets",
    "find_replay",
    "flush_operation",
    "get_operation",
    "list_operations",
    "new_operation",
    "request_hash",
    "shown_operation",
    "wait_for_end",
]


async def wait_for_end(
    db: Database, op_id: str, wait_s: float, *, poll_s: float = 0.05, local_poll_s: float = 1.0
) -> Operation:
    """The operation once it has ended, or as it is when ``wait_s`` runs out.

    An operation a runner of this process works on is read again as soon as that runner stops (``endings``), and
    every ``local_poll_s`` besides; any other (another worker's, or not claimed yet) every ``poll_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    with endings.watch(op_id) as watch:
        while True:
            async with db.read() as session:
                op = await session.get(Operation, op_id)
            if op is None:  # operations are never deleted
                raise NotFoundError("operation not found")
            remaining = deadline - loop.time()
            if op.state in TERMINAL_STATES or remaining <= 0:
                return op
            await watch.sleep(min(local_poll_s if watch.running_here() else poll_s, remaining))
