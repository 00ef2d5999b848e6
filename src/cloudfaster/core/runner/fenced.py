"""Fenced writes of operation rows (step records, checkpoints), with the writes of many operations committed in one
transaction when they arrive together (group commit)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, update

from cloudfaster.db.base import utcnow
from cloudfaster.db.engine import Database
from cloudfaster.db.models import Operation

# Built once, and with no synchronisation of the session's objects (there are none here): building the UPDATE and
# compiling its WHERE into a Python evaluator each time cost a quarter of a write's CPU on SQLite (2.0 vs 1.5 ms).
FENCED_WRITE = (
    update(Operation)
    .where(Operation.id == bindparam("op_id"), Operation.attempt == bindparam("fence"), Operation.state == "running")
    .values(steps=bindparam("new_steps"), checkpoints=bindparam("new_checkpoints"), updated_at=bindparam("now"))
    .execution_options(synchronize_session=False)
)


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


class FencedWrites:
    """Writes operation rows, each only while its attempt still holds the row (its fencing token).

    A write that arrives while another transaction of this queue commits waits for it and goes out with every other
    write that arrived meanwhile, in one transaction. Each keeps its own fence (a statement per row), and when a
    shared transaction fails, its writes are tried again one by one, so one write's error is never another's.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self._queue: list[tuple[RowWrite, asyncio.Future[bool]]] = []
        self._drain: asyncio.Task[None] | None = None

    async def write(self, row: RowWrite) -> bool:
        """Write ``row``; whether the operation was still this attempt's (False: another runner took it over)."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue.append((row, future))
        if self._drain is None or self._drain.done():
            self._drain = asyncio.ensure_future(self._drain_queue())
        return await future

    async def _drain_queue(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                written = await self._commit([row for row, _ in batch])
            except Exception as exc:
                if len(batch) == 1:
                    _settle(batch[0][1], exc)
                    continue
                for row, future in batch:  # alone, so that the error lands on the write that caused it
                    try:
                        [ours] = await self._commit([row])
                    except Exception as single:
                        _settle(future, single)
                    else:
                        _settle(future, ours)
            else:
                for (_, future), ours in zip(batch, written, strict=True):
                    _settle(future, ours)

    async def _commit(self, rows: list[RowWrite]) -> list[bool]:
        now = utcnow()
        ours = [False] * len(rows)
        async with self.db.write() as session:
            # In primary-key order, as a lease renewal (`UPDATE … WHERE id IN`) locks them: no lock-order deadlock.
            for i in sorted(range(len(rows)), key=lambda i: rows[i].op_id):
                result = await session.execute(FENCED_WRITE, rows[i].params(now))
                ours[i] = result.rowcount == 1  # type: ignore[attr-defined]
        return ours


def _settle(future: asyncio.Future[bool], outcome: bool | BaseException) -> None:
    if future.done():  # its operation was cancelled meanwhile
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
