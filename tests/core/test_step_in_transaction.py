"""A step whose whole effect is a database transaction commits with its own record and result, fenced."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from cloudfaster.core.runner.context import LeaseLostError, OperationContext
from cloudfaster.core.runner.fenced import FencedWrites
from cloudfaster.db.engine import Database
from cloudfaster.db.models import Operation
from tests.core.test_fenced_writes import running_ops
from tests.support.kinds import StepsParams


def context(db: Database, op_id: str, fence: int = 1) -> OperationContext[StepsParams]:
    return OperationContext(
        FencedWrites(db), op_id=op_id, kind="test.steps", target_id="t0", owner_userid="u",
        params=StepsParams(steps=1), fence=fence, checkpoints={}, steps=[],
    )  # fmt: skip


async def mark(session: AsyncSession, op_id: str, *, fail: bool = False) -> dict[str, Any]:
    """The step's own write: another operation's target is renamed."""
    await session.execute(text("UPDATE operations SET target_id = 'renamed' WHERE id = :id"), {"id": op_id})
    if fail:
        raise RuntimeError("the step failed after writing")
    return {"renamed": op_id}


async def row(db: Database, op_id: str) -> Operation:
    async with db.read() as session:
        found = await session.get(Operation, op_id)
        assert found is not None
        return found


async def test_the_writes_the_record_and_the_result_commit_together(db: Database) -> None:
    mine, other = await running_ops(db, 2)
    ctx = context(db, mine)
    assert await ctx.step_in_transaction("rename", db, lambda s: mark(s, other)) == {"renamed": other}
    stored = await row(db, mine)
    assert stored.checkpoints == {"rename": {"renamed": other}}
    assert [(s["name"], s["state"]) for s in stored.steps] == [("rename", "done")]
    assert (await row(db, other)).target_id == "renamed"
    # Run again (a resumed attempt): the saved result, and the action does not run.
    assert await ctx.step_in_transaction("rename", db, lambda s: mark(s, other, fail=True)) == {"renamed": other}


async def test_a_stale_fence_writes_nothing(db: Database) -> None:
    mine, other = await running_ops(db, 2)
    ctx = context(db, mine, fence=2)  # another runner's attempt holds the operation (its token is 1)
    with pytest.raises(LeaseLostError):
        await ctx.step_in_transaction("rename", db, lambda s: mark(s, other))
    assert (await row(db, other)).target_id != "renamed"
    assert (await row(db, mine)).checkpoints == {}


async def test_a_failing_step_leaves_its_writes_undone_and_is_recorded_failed(db: Database) -> None:
    mine, other = await running_ops(db, 2)
    ctx = context(db, mine)
    with pytest.raises(RuntimeError):
        await ctx.step_in_transaction("rename", db, lambda s: mark(s, other, fail=True))
    assert (await row(db, other)).target_id != "renamed"
    stored = await row(db, mine)
    assert stored.checkpoints == {}
    assert [(s["name"], s["state"], s.get("detail")) for s in stored.steps] == [
        ("rename", "failed", "the step failed after writing")
    ]
