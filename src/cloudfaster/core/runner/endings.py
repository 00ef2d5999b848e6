"""Operations stopping in this process: a runner announces every attempt it stops working on (finished, failed,
handed back, lease lost), so that a ``?wait=`` in the same process reads the row at once instead of at its next
poll. Runners of other processes announce nothing here; their endings are seen by polling the database."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Iterator

_running: Counter[str] = Counter()  # operation id -> attempts running in this process now
_watches: dict[str, set[Watch]] = {}


class Watch:
    """One waiter's interest in one operation: woken when an attempt at it stops in this process."""

    def __init__(self, op_id: str) -> None:
        self.op_id = op_id
        self.loop = asyncio.get_running_loop()
        self._woken = asyncio.Event()

    def running_here(self) -> bool:
        """Whether a runner of this process is working on the operation now (and so will announce its end)."""
        return _running[self.op_id] > 0

    async def sleep(self, seconds: float) -> None:
        """Sleep ``seconds``, or less when an attempt stopped since the last sleep (or during this one)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._woken.wait()
        self._woken.clear()

    def wake(self) -> None:
        """End the current (or next) ``sleep`` early; callable from any thread."""
        try:
            same_loop = asyncio.get_running_loop() is self.loop
        except RuntimeError:
            same_loop = False
        if same_loop:
            self._woken.set()
        elif not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._woken.set)


@contextlib.contextmanager
def watch(op_id: str) -> Iterator[Watch]:
    """Watch an operation for as long as the block runs (enter it before the first read, so no end is missed)."""
    watcher = Watch(op_id)
    _watches.setdefault(op_id, set()).add(watcher)
    try:
        yield watcher
    finally:
        watchers = _watches.get(op_id, set())
        watchers.discard(watcher)
        if not watchers:
            _watches.pop(op_id, None)


def started(op_id: str) -> None:
    """A runner of this process claimed the operation and works on it."""
    _running[op_id] += 1


def stopped(op_id: str) -> None:
    """A runner of this process stopped working on the operation (its last write is committed): wake its
    watchers."""
    _running[op_id] -= 1
    if _running[op_id] <= 0:
        del _running[op_id]
    for watcher in list(_watches.get(op_id, ())):
        watcher.wake()


def watched() -> int:
    """How many operations are being watched now."""
    return len(_watches)
