"""An operation kind for exercising the runner: numbered steps, each leaving a visible effect."""

from __future__ import annotations

import asyncio
from functools import partial
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from sqlalchemy.exc import OperationalError

from cloudfaster.core.runner.context import OperationContext
from cloudfaster.core.runner.kinds import OperationFailedError, RetryableError


class StepsParams(BaseModel):
    """How many steps to run, and whether to fail after them."""

    steps: int
    fail: bool = False


class StepsKind:
    """Runs ``params.steps`` steps; each sleeps, then appends ``step-N`` to ``<effects>/<op id>.log``.

    The log records every execution, so a step that ran twice shows up twice.
    """

    name = "test.steps"
    params = StepsParams

    def __init__(self, effects: Path, *, delay_s: float = 0.0, flaky_failures: int = 0, deadlocks: int = 0) -> None:
        self.effects = effects
        self.delay_s = delay_s
        self.flaky_failures = flaky_failures
        self.deadlocks = deadlocks
        self.failures_seen: list[str] = []

    def log_of(self, op_id: str) -> list[str]:
        """The recorded step executions of one operation."""
        path = self.effects / f"{op_id}.log"
        return path.read_text().split() if path.exists() else []

    async def run(self, ctx: OperationContext[StepsParams]) -> dict[str, Any]:
        """Run the steps, resuming after the last checkpoint."""
        for i in range(ctx.params.steps):
            await ctx.step(f"step-{i}", partial(self._effect, ctx, i))
        if ctx.params.fail:
            raise OperationFailedError("asked to fail", code="asked_to_fail", details={"steps": ctx.params.steps})
        return {"steps": ctx.params.steps}

    async def _effect(self, ctx: OperationContext[StepsParams], i: int) -> str:
        await asyncio.sleep(self.delay_s)
        if self.flaky_failures > 0:
            self.flaky_failures -= 1
            raise RetryableError("flaky upstream")
        if self.deadlocks > 0:  # what aiomysql raises when InnoDB picks this transaction to break a deadlock
            self.deadlocks -= 1
            reason = Exception(1213, "Deadlock found when trying to get lock; try restarting transaction")
            raise OperationalError("UPDATE proxmox_vms SET node=%s WHERE vmid = %s", ("sv1", 100), reason)
        with (self.effects / f"{ctx.op_id}.log").open("a") as log:
            log.write(f"step-{i}\n")
        return f"did-{i}"

    async def on_failure(self, ctx: OperationContext[StepsParams], error: OperationFailedError) -> None:
        """Remember the failure."""
        self.failures_seen.append(error.code)
