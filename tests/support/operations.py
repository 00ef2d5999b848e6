"""Watching operation rows straight in the database (for tests that kill the server in between)."""

from __future__ import annotations

from collections.abc import Callable

from cloudfaster.core.polling import poll_until
from cloudfaster.db.engine import Database
from cloudfaster.db.models import Operation


async def wait_for_row(
    db: Database, op_id: str, check: Callable[[Operation], bool], timeout_s: float = 60
) -> Operation:
    """Poll an operation row until ``check`` holds; fails with the row's state after ``timeout_s``."""

    async def load() -> Operation:
        async with db.read() as session:
            op = await session.get(Operation, op_id)
        assert op is not None, f"no operation {op_id}"
        return op

    polled = await poll_until(load, check, timeout_s=timeout_s, interval_s=0.05)
    assert polled.done, f"timed out: {polled.value.state} {polled.value.checkpoints}"
    return polled.value
