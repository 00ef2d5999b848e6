"""Fenced writes of operation rows on real databases: writes that arrive together share one transaction, and each
keeps its own fence and its own error."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, make_url, select

from cloudfaster.core import operations as op_service
from cloudfaster.core.runner.fenced import Claim, FencedWrites, RowWrite
from cloudfaster.core.runner.runner import OperationRunner
from cloudfaster.db.base import utcnow
from cloudfaster.db.engine import Database
from cloudfaster.db.models import Operation
from cloudfaster.settings import WorkerSettings
from tests.support.kinds import StepsKind, StepsParams


async def running_ops(db: Database, count: int, *, claimed: bool = True) -> list[str]:
    """``count`` operations in state running, attempt 1 (as a runner's claim leaves them), or still pending."""
    ids = []
    async with db.write() as session:
        for n in range(count):
            op = op_service.new_operation(
                kind="test.steps", target_type="thing", target_id=f"t{n}", owner_userid="u",
                params=StepsParams(steps=1), idempotency_key=None, body_hash=None,
            )  # fmt: skip
            if claimed:
                op.state, op.attempt = "running", 1
            await op_service.flush_operation(session, op)
            ids.append(op.id)
    return ids


def row(op_id: str, fence: int = 1, **checkpoints: Any) -> RowWrite:
    return RowWrite(op_id, fence, steps=[{"name": "s", "state": "running"}], checkpoints=checkpoints)


async def checkpoints_of(db: Database, op_ids: list[str]) -> list[dict[str, Any]]:
    async with db.read() as session:
        return [(await session.get(Operation, op_id)).checkpoints for op_id in op_ids]  # type: ignore[union-attr]


class Commits:
    """Counts the transactions committed on the write engine, and the statements sent, by their first words."""

    def __init__(self, db: Database) -> None:
        self.engine = db.write_engine.sync_engine
        self.count = 0
        self.statements: list[str] = []

    def __enter__(self) -> Commits:
        event.listen(self.engine, "commit", self._one)
        event.listen(self.engine, "before_cursor_execute", self._statement)
        return self

    def __exit__(self, *_: object) -> None:
        event.remove(self.engine, "commit", self._one)
        event.remove(self.engine, "before_cursor_execute", self._statement)

    def _one(self, _conn: object) -> None:
        self.count += 1

    def _statement(self, _conn: object, _cursor: object, text: str, *_: object) -> None:
        self.statements.append(" ".join(text.split()[:4]))

    def sent(self, start: str) -> int:
        """How many statements starting with ``start`` were sent (an executemany counts once)."""
        return sum(statement.startswith(start) for statement in self.statements)


async def test_writes_that_arrive_together_share_one_transaction(db: Database) -> None:
    writes = FencedWrites(db)
    op_ids = await running_ops(db, 20)
    with Commits(db) as commits:
        answers = await asyncio.gather(*(writes.write(row(op_id, n=i)) for i, op_id in enumerate(op_ids)))
    assert answers == [True] * 20
    assert await checkpoints_of(db, op_ids) == [{"n": i} for i in range(20)]
    assert commits.count <= 2  # the first write alone, the nineteen that queued behind it together
    assert commits.sent("UPDATE operations SET steps") == commits.count  # one executemany a transaction


async def test_claims_that_arrive_together_share_a_transaction_and_take_each_operation_once(db: Database) -> None:
    writes = FencedWrites(db)
    op_ids = await running_ops(db, 10, claimed=False)
    now = utcnow()
    claims = [
        Claim(op_id, f"runner{n}", now=now, until=now + timedelta(seconds=30)) for op_id in op_ids for n in (1, 2)
    ]
    with Commits(db) as commits:
        taken = await asyncio.gather(*(writes.claim(claim) for claim in claims))
    winners = [op for op in taken if op is not None]
    assert sorted(op.id for op in winners) == sorted(op_ids)  # each operation by one of its two claimants
    assert {(op.state, op.attempt) for op in winners} == {("running", 1)}
    assert commits.count <= 2
    assert commits.sent("UPDATE operations SET state") <= 2 * commits.count  # one a runner, not one a claim
    async with db.read() as session:
        rows = {op.id: op for op in (await session.execute(select(Operation))).scalars()}
    assert {op.id: (op.lease_owner, op.attempt) for op in winners} == {
        op_id: (rows[op_id].lease_owner, rows[op_id].attempt) for op_id in op_ids
    }  # each winner got the row as it was written


async def test_two_runners_claiming_the_same_operations_take_each_once(db: Database) -> None:
    """Two runners' shared claims at once (on PostgreSQL and MariaDB one update waits for the other's locks and
    then finds some rows taken): every operation goes to exactly one of them, at attempt 1."""
    first, second = FencedWrites(db), FencedWrites(db)
    op_ids = await running_ops(db, 12, claimed=False)
    now = utcnow()
    until = now + timedelta(seconds=30)
    taken = await asyncio.gather(
        *(writes.claim(Claim(op_id, name, now=now, until=until)) for op_id in op_ids
          for writes, name in ((first, "one"), (second, "two"))),
    )  # fmt: skip
    winners = [op for op in taken if op is not None]
    assert sorted(op.id for op in winners) == sorted(op_ids)
    async with db.read() as session:
        rows = {op.id: op for op in (await session.execute(select(Operation))).scalars()}
    assert {op.id: op.lease_owner for op in winners} == {op_id: rows[op_id].lease_owner for op_id in op_ids}
    assert {rows[op_id].attempt for op_id in op_ids} == {1}


async def test_a_write_alone_is_not_held_back(db: Database) -> None:
    writes = FencedWrites(db)
    [op_id] = await running_ops(db, 1)
    with Commits(db) as commits:
        assert await asyncio.wait_for(writes.write(row(op_id, n=1)), timeout=5)
    assert commits.count == 1
    assert await checkpoints_of(db, [op_id]) == [{"n": 1}]


async def test_a_stale_fence_fails_only_its_own_write(db: Database) -> None:
    writes = FencedWrites(db)
    op_ids = await running_ops(db, 6)
    fences = [1, 1, 2, 1, 1, 1]  # the third was taken over by another runner's attempt (its token is 1)
    rows = [row(op_id, fence, n=1) for op_id, fence in zip(op_ids, fences, strict=True)]
    answers = await asyncio.gather(*(writes.write(r) for r in rows))
    assert answers == [True, True, False, True, True, True]
    assert await checkpoints_of(db, op_ids) == [{"n": 1}, {"n": 1}, {}, {"n": 1}, {"n": 1}, {"n": 1}]


async def test_a_write_the_database_refuses_fails_alone(db: Database) -> None:
    writes = FencedWrites(db)
    op_ids = await running_ops(db, 5)
    rows = [row(op_id, n=1) for op_id in op_ids]
    rows[2] = row(op_ids[2], n=object())  # cannot be stored as JSON
    results = await asyncio.gather(*(writes.write(r) for r in rows), return_exceptions=True)
    assert [r for i, r in enumerate(results) if i != 2] == [True] * 4
    assert isinstance(results[2], Exception)
    assert "not JSON serializable" in str(results[2])
    assert await checkpoints_of(db, op_ids) == [{"n": 1}, {"n": 1}, {}, {"n": 1}, {"n": 1}]


async def test_heartbeats_never_overlap_the_shared_writes(db: Database, tmp_path: Path) -> None:
    """A heartbeat beside a shared transaction could lock the same rows in another order (PostgreSQL deadlocked
    on it): both go through one queue, so no two of these transactions are ever open at once."""
    kind = StepsKind(tmp_path, delay_s=0.01)
    settings = WorkerSettings.model_validate({"lease_s": 0.15, "sweep_interval_s": 0.2, "max_attempts": 3})
    runner = OperationRunner(db, settings, {kind.name: kind})  # a heartbeat every 0.05 s
    async with db.write() as session:
        ops = []
        for n in range(30):
            op = op_service.new_operation(
                kind=kind.name, target_type="thing", target_id=f"t{n}", owner_userid="u",
                params=StepsParams(steps=15), idempotency_key=None, body_hash=None,
            )  # fmt: skip
            await op_service.flush_operation(session, op)
            ops.append(op.id)
    open_now: set[int] = set()
    most = 0

    def statement(conn: Any, _cursor: object, text: str, *_: object) -> None:
        nonlocal most
        if text.startswith(("UPDATE operations SET steps", "UPDATE operations SET lease_expires_at")):
            open_now.add(id(conn))
            most = max(most, len(open_now))

    def ended(conn: Any) -> None:
        open_now.discard(id(conn))

    engine = db.write_engine.sync_engine
    listeners: list[tuple[str, Callable[..., None]]] = [
        ("before_cursor_execute", statement),
        ("commit", ended),
        ("rollback", ended),
    ]
    for name, listener in listeners:
        event.listen(engine, name, listener)
    try:
        await asyncio.gather(*(runner.run(op_id) for op_id in ops))
    finally:
        for name, listener in listeners:
            event.remove(engine, name, listener)
    async with db.read() as session:
        states = [(await session.get(Operation, op_id)).state for op_id in ops]  # type: ignore[union-attr]
    assert states == ["succeeded"] * 30
    assert most == 1


def take_over(database_url: str, op_id: str) -> None:
    """Another runner's claim of ``op_id``, committed from outside this process (the database's own client)."""
    url = make_url(database_url)
    sql = (
        "UPDATE operations SET state = 'running', attempt = attempt + 1, lease_owner = 'intruder', "
        f"lease_expires_at = '2999-01-01 00:00:00' WHERE id = '{op_id}'"
    )
    if url.get_backend_name() == "postgresql":
        args = [
            "psql",
            "-h",
            str(url.host),
            "-p",
            str(url.port or 5432),
            "-U",
            str(url.username),
            "-d",
            str(url.database),
        ]
        subprocess.run([*args, "-v", "ON_ERROR_STOP=1", "-c", sql], check=True, capture_output=True)
    else:
        args = ["mariadb", "-h", str(url.host), "-P", str(url.port or 3306), "-u", str(url.username), str(url.database)]
        subprocess.run([*args, "-e", sql], check=True, capture_output=True)


@pytest.mark.parametrize("database_url", ["mariadb", "postgres"], indirect=True)
async def test_an_operation_taken_between_the_claims_read_and_update_goes_to_the_other_runner(
    db: Database, database_url: str
) -> None:
    """A shared claim reads the due rows, then takes them in one update: a row another runner took in between is
    left to it, and the others are still this runner's (SQLite has one writer, so nothing can come in between)."""
    writes = FencedWrites(db)
    op_ids = await running_ops(db, 5, claimed=False)
    stolen = op_ids[2]

    taken_over: list[str] = []

    def before_update(_conn: object, _cursor: object, text: str, parameters: Any, *_: object) -> None:
        if text.startswith("UPDATE operations SET state") and stolen in str(parameters) and not taken_over:
            take_over(database_url, stolen)
            taken_over.append(stolen)

    engine = db.write_engine.sync_engine
    event.listen(engine, "before_cursor_execute", before_update)
    now = utcnow()
    with Commits(db) as commits:
        taken = await asyncio.gather(
            *(writes.claim(Claim(op_id, "me", now=now, until=now + timedelta(seconds=30))) for op_id in op_ids)
        )
    event.remove(engine, "before_cursor_execute", before_update)
    assert taken_over == [stolen]
    assert commits.count == 1  # one shared claim, not retried claim by claim
    assert [op is not None for op in taken] == [True, True, False, True, True]
    async with db.read() as session:
        rows = {op.id: op for op in (await session.execute(select(Operation))).scalars()}
    assert (rows[stolen].lease_owner, rows[stolen].attempt) == ("intruder", 1)
    assert {(rows[op.id].lease_owner, rows[op.id].attempt, op.attempt) for op in taken if op} == {("me", 1, 1)}
