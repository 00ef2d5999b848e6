"""Watching operation rows straight in the database (for tests that kill the server in between)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from cloudfaster.db.engine import Database
from cloudfaster.db.models import Operation


async def wait_for_row(
    db: Database, op_id: str, check: Callable[[Operation], bool], timeout_s: float = 60
) -> Operation:
    """Poll an operation row until ``check`` holds; fails with the row's state after ``timeout_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        async with db.read() as session:
            op = await session.get(Operation, op_id)
        assert op is not None
        if check(op):
            return op
        assert loop.time() < deadline, f"timed out: {op.state} {op.checkpoints}"
        await asyncio.sleep(0.05)
