"""Claims and fenced writes of operation rows (step records, checkpoints): what many operations ask for together is
committed in one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from cloudfaster.db.base import utcnow
from cloudfaster.db.engine import Database
from cloudfaster.db.group_commit import GroupCommit
from cloudfaster.db.models import Operation

# Built once, on the table rather than the ORM entity, so that the rows of a shared transaction go out as one
# executemany (one round trip with asyncpg and aiosqlite): a statement per row waited a turn of the event loop each,
# and under a burst's load that loop is busy (a transaction of 65 writes took 350 ms on PostgreSQL).
OPERATIONS = cast(Table, Operation.__table__)
_OPS = OPERATIONS.c
FENCED_WRITE = (
    update(OPERATIONS)
    .where(_OPS.id == bindparam("op_id"), _OPS.attempt == bindparam("fence"), _OPS.state == "running")
    .values(steps=bindparam("new_steps"), checkpoints=bindparam("new_checkpoints"), updated_at=bindparam("now"))
)
HELD = select(_OPS.id, _OPS.attempt, _OPS.state).where(_OPS.id.in_(bindparam("op_ids", expanding=True)))


@dataclass(frozen=True)
class RowWrite:
    """The steps and checkpoints of one attempt at one operation."""

    op_id: str
    fence: int
    steps: list[dict[str, Any]]
    checkpoints: dict[str, Any]

    def params(self, now: datetime) -> dict[str, Any]:
        """The bound values of ``FENCED_WRITE``."""
        return {
            "op_id": self.op_id,
            "fence": self.fence,
            "new_steps": self.steps,
            "new_checkpoints": self.checkpoints,
            "now": now,
        }


@dataclass(frozen=True)
class Claim:
    """Taking operation ``op_id`` for ``owner`` until ``until``, if it is due or its lease lapsed (at ``now``)."""

    op_id: str
    owner: str
    now: datetime
    until: datetime


@dataclass(frozen=True)
class Renewal:
    """A lease heartbeat: every operation ``owner`` works on (id -> fencing token), held until ``until``."""

    held: dict[str, int]
    owner: str
    until: datetime


Item = RowWrite | Claim | Renewal
Outcome = bool | Operation | set[str] | None


class FencedWrites:
    """Claims operations and writes their rows, each write only while its attempt still holds the row (its fencing
    token).

    What arrives together shares one transaction (``GroupCommit``), a statement per row; a burst's claims and step
    records then cost one commit instead of one each. The lease heartbeat goes through the same queue: in its own
    transaction beside a shared one it could lock the same rows in another order and deadlock (PostgreSQL updates an
    ``IN`` list in the table's order).
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self._sane_rowcount = db.write_engine.dialect.supports_sane_multi_rowcount
        self._group: GroupCommit[Item, Outcome] = GroupCommit(self._commit)

    async def claim(self, claim: Claim) -> Operation | None:
        """Claim an operation; its row as claimed (``attempt`` is the fence), or None when it is not due or is held
        by a live runner."""
        claimed = await self._group.submit(claim)
        return claimed if isinstance(claimed, Operation) else None

    async def write(self, row: RowWrite) -> bool:
        """Write ``row``; whether the operation was still this attempt's (False: another runner took it over)."""
        return await self._group.submit(row) is True

    async def write_in(self, session: AsyncSession, row: RowWrite) -> bool:
        """Write ``row`` in the caller's transaction (committed with the rest of it); whether the operation was
        still this attempt's."""
        written = await session.execute(FENCED_WRITE, row.params(utcnow()))
        return bool(written.rowcount == 1)  # type: ignore[attr-defined]

    async def renew(self, renewal: Renewal) -> set[str]:
        """Renew the leases of ``renewal.held``; the operations still held by their attempt (the others were taken
        over by another runner)."""
        kept = await self._group.submit(renewal)
        return kept if isinstance(kept, set) else set()

    async def _commit(self, items: list[Item]) -> list[Outcome]:
        now = utcnow()
        results: list[Outcome] = [None] * len(items)
        rows = sorted((i for i, item in enumerate(items) if isinstance(item, RowWrite)), key=lambda i: _order(items[i]))
        claims = sorted((i for i, item in enumerate(items) if isinstance(item, Claim)), key=lambda i: _order(items[i]))
        async with self.db.write() as session:
            # Row writes, then claims, then the heartbeat, each in primary-key order, so that two runners' shared
            # transactions lock rows in the same order; the row writes go out as one executemany, the claims of
            # one runner as one read and one update.
            await self._write_rows(session, [(i, cast(RowWrite, items[i])) for i in rows], results, now)
            await _claim_all(session, [(i, cast(Claim, items[i])) for i in claims], results)
            for i, item in enumerate(items):
                if isinstance(item, Renewal):
                    results[i] = await _renew(session, item)
        return results

    async def _write_rows(
        self, session: AsyncSession, rows: list[tuple[int, RowWrite]], results: list[Outcome], now: datetime
    ) -> None:
        """Write ``rows`` with one executemany; each result says whether its attempt still held the operation."""
        if not rows:
            return
        params = [row.params(now) for _, row in rows]
        written = await session.execute(FENCED_WRITE, params)
        count: int = written.rowcount  # type: ignore[attr-defined]
        if len(rows) == 1 or (self._sane_rowcount and count == len(rows)):
            for i, _ in rows:
                results[i] = count == len(rows)
            return
        # asyncpg and aiomysql count no rows for an executemany: read which rows are still held. Attempts only
        # grow, so a row at its write's fence and running now, in the transaction that wrote it, was so when
        # written.
        found = await session.execute(HELD, {"op_ids": sorted({row.op_id for _, row in rows})})
        held = {(op_id, attempt) for op_id, attempt, state in found if state == "running"}
        for i, row in rows:
            results[i] = (row.op_id, row.fence) in held


def _order(item: Item) -> tuple[int, str]:
    return (1, "") if isinstance(item, Renewal) else (0, item.op_id)


def _claimable(now: datetime) -> ColumnElement[bool]:
    """Due and pending, or running under a lease that lapsed before ``now``."""
    return or_(
        (Operation.state == "pending") & (Operation.not_before <= now),
        (Operation.state == "running") & (Operation.lease_expires_at < now),
    )


async def _claim_all(session: AsyncSession, claims: list[tuple[int, Claim]], results: list[Outcome]) -> None:
    """Take the operations of ``claims`` that are due, one runner's at a time: read them, then take them all with
    one update; each result is the row as claimed (``attempt`` is the fence), or None."""
    by_owner: dict[str, list[tuple[int, Claim]]] = {}
    for i, claim in claims:
        by_owner.setdefault(claim.owner, []).append((i, claim))
    for owner, mine in by_owner.items():
        now = max(claim.now for _, claim in mine)
        until = max(claim.until for _, claim in mine)
        ids = sorted({claim.op_id for _, claim in mine})
        due = select(Operation).where(Operation.id.in_(ids), _claimable(now)).order_by(Operation.id)
        found = {op.id: op for op in (await session.execute(due.execution_options(populate_existing=True))).scalars()}
        if not found:
            continue
        before = {op_id: op.attempt for op_id, op in found.items()}
        taken = await session.execute(
            update(Operation)
            .where(Operation.id.in_(sorted(found)), _claimable(now))
            .values(
                state="running",
                attempt=Operation.attempt + 1,
                lease_owner=owner,
                lease_expires_at=until,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        if taken.rowcount != len(found):  # type: ignore[attr-defined]
            # Another runner took some between the read and the update: ours are the rows one attempt further
            # under our name (nobody else can move them on before this transaction ends).
            still = await session.execute(
                select(Operation.id, Operation.attempt, Operation.lease_owner).where(Operation.id.in_(sorted(found)))
            )
            ours = {op_id for op_id, attempt, lease in still if lease == owner and attempt == before[op_id] + 1}
            found = {op_id: op for op_id, op in found.items() if op_id in ours}
        for op in found.values():
            for name, value in (
                ("state", "running"), ("attempt", op.attempt + 1), ("lease_owner", owner),
                ("lease_expires_at", until), ("updated_at", now),
            ):  # fmt: skip
                set_committed_value(op, name, value)  # as written, without a flush of its own
        for i, claim in mine:  # a second claim of the same operation in this batch gets nothing
            results[i] = found.pop(claim.op_id, None)


async def _renew(session: AsyncSession, renewal: Renewal) -> set[str]:
    held = renewal.held
    mine = (Operation.id.in_(held), Operation.lease_owner == renewal.owner, Operation.state == "running")
    renewed = await session.execute(
        update(Operation)
        .where(*mine)
        .values(lease_expires_at=renewal.until)
        .execution_options(synchronize_session=False)
    )
    if renewed.rowcount == len(held):  # type: ignore[attr-defined]
        return set(held)
    still = await session.execute(select(Operation.id, Operation.attempt).where(*mine))
    return {op_id for op_id, attempt in still if held[op_id] == attempt}
