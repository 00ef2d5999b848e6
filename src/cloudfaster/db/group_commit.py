"""Group commit: the writes that arrive while one transaction commits go out together in the next one."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from sqlalchemy.exc import DBAPIError

from cloudfaster.db.errors import database_unreachable, is_deadlock

T = TypeVar("T")
R = TypeVar("R")


class GroupCommit(Generic[T, R]):
    """Commits submitted items with ``commit`` (one transaction for every item waiting, answering one result per
    item, in order). A write alone goes out at once; under load each transaction carries what queued behind the last.

    When a shared transaction fails, its items are committed again one by one, so that an error lands only on the
    item that caused it; an unreachable database fails them all at once.
    """

    def __init__(self, commit: Callable[[list[T]], Awaitable[list[R]]]) -> None:
        self._commit = commit
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._drain: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        """Commit ``item`` (with whatever else is waiting) and return its result."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._drain is None or self._drain.done():
            self._drain = asyncio.ensure_future(self._drain_queue())
        return await future

    async def _drain_queue(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                await self._commit_batch(batch)
            except BaseException:  # the drain itself was cancelled: nobody may be left waiting for it
                for _, future in [*batch, *self._queue]:
                    future.cancel()
                self._queue = []
                raise

    async def _commit_batch(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            results = await self._commit([item for item, _ in batch])
        except Exception as exc:
            if len(batch) == 1 or _outage(exc):  # alone, each would only wait for the outage again
                for _, future in batch:
                    _settle(future, exc)
                return
            for item, future in batch:  # alone, so that the error lands on the item that caused it
                try:
                    [result] = await self._commit([item])
                except Exception as single:
                    _settle(future, single)
                else:
                    _settle(future, result)
        else:
            for (_, future), result in zip(batch, results, strict=True):
                _settle(future, result)


def _outage(exc: Exception) -> bool:
    """The database is down: not a deadlock, which drivers also raise as an OperationalError and a retry resolves."""
    return database_unreachable(exc) and not (isinstance(exc, DBAPIError) and is_deadlock(exc))


def _settle(future: asyncio.Future[R], outcome: R | Exception) -> None:
    if future.done():  # its caller was cancelled meanwhile
        return
    if isinstance(outcome, Exception):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
