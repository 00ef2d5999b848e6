"""The handle an operation kind works through: params, fenced checkpoints, step records."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from cloudfaster.core.runner.fenced import FencedWrites, RowWrite
from cloudfaster.db.base import utcnow
from cloudfaster.db.engine import Database

T = TypeVar("T")
P = TypeVar("P", bound=BaseModel)
OnSuccess = Callable[[AsyncSession], Awaitable[None]]


class LeaseLostError(Exception):
    """Another worker took this operation over (our fencing token is stale): stop at once."""


class OperationContext(Generic[P]):
    """One attempt at one operation, holding the fencing token every write is checked against."""

    def __init__(
        self,
        writes: FencedWrites,
        *,
        op_id: str,
        kind: str,
        target_id: str,
        owner_userid: str,
        params: P,
        fence: int,
        checkpoints: dict[str, Any],
        steps: list[dict[str, Any]],
    ) -> None:
        self.writes = writes
        self.op_id = op_id
        self.kind = kind
        self.target_id = target_id
        self.owner_userid = owner_userid
        self.params = params
        self.fence = fence
        self.checkpoints = dict(checkpoints)
        self.steps = [dict(step) for step in steps]
        self.dirty = False  # a finished step's record is not written yet
        self.on_success: list[OnSuccess] = []  # written in the transaction that ends the operation
        for step in self.steps:  # a step still "running" from an earlier attempt was cut short by a crash
            if step["state"] == "running" and step.get("attempt") != fence:
                step["state"] = "interrupted"

    async def step(self, name: str, action: Callable[[], Awaitable[T]], *, pure: bool = False) -> T:
        """Run ``action`` once across all attempts: a step that finished before returns its saved result.

        A ``pure`` step changes nothing outside this process (it only reads), so its start is written with the
        next write instead of before it.
        """
        if name in self.checkpoints:
            return self.checkpoints[name]  # type: ignore[no-any-return]
        await self._record(name, "running", write=not pure)
        try:
            result = await action()
        except Exception as exc:
            await self._record(name, "failed", detail=str(exc))
            raise
        self.checkpoints[name] = result
        # Written with the next write (the next step's start, a saved UPID, the end): every step may run again
        # after a crash anyway, and a step's start is still written, fenced, before its side effect.
        await self._record(name, "done", write=False)
        return result

    async def step_in_transaction(self, name: str, db: Database, action: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run, once across all attempts, a step whose whole effect is ``action``'s writes to the database: they
        commit in one transaction with the step's record and result, fenced (``LeaseLostError``, and nothing
        written, when another runner holds the operation now). One transaction instead of a fenced write of the
        step's start, then its own, then the record of its end."""
        if name in self.checkpoints:
            return self.checkpoints[name]  # type: ignore[no-any-return]
        await self._record(name, "running", write=False)
        try:
            async with db.write() as session:
                result = await action(session)
                steps = [dict(step) for step in self.steps]
                _mark(steps, name, "done", self.fence, utcnow().isoformat())
                checkpoints = {**self.checkpoints, name: result}
                row = RowWrite(self.op_id, self.fence, steps=steps, checkpoints=checkpoints)
                if not await self.writes.write_in(session, row):
                    raise LeaseLostError(self.op_id)
        except LeaseLostError:
            raise
        except Exception as exc:
            await self._record(name, "failed", detail=str(exc))
            raise
        self.steps, self.checkpoints, self.dirty = steps, checkpoints, False
        return result

    def saved(self, name: str) -> Any:
        """A value saved by ``save`` or a finished step, or None."""
        return self.checkpoints.get(name)

    async def save(self, name: str, value: Any, *, write: bool = True) -> None:
        """Persist an external handle (a VMID, a task id) before waiting on it, so a resume finds it; ``write=False``
        leaves it to the next write (a step's start, which comes before that step's side effect)."""
        self.checkpoints[name] = value
        if write:
            await self._write()
        else:
            self.dirty = True

    async def note(self, name: str, detail: str) -> None:
        """Add an informational step record (e.g. a failover decision)."""
        await self._record(name, "info", detail=detail)

    def finish_with(self, write: OnSuccess) -> None:
        """Have ``write`` run in the transaction that records the operation's success, so both commit together."""
        self.on_success.append(write)

    def snapshot(self) -> dict[str, Any]:
        """The checkpoints and step records as columns, for the runner's last write of an attempt."""
        self.dirty = False
        return {"checkpoints": dict(self.checkpoints), "steps": list(self.steps)}

    async def flush(self) -> None:
        """Write step records held back (a finished step), fenced."""
        if self.dirty:
            await self._write()

    async def _record(self, name: str, state: str, *, detail: str | None = None, write: bool = True) -> None:
        _mark(self.steps, name, state, self.fence, utcnow().isoformat(), detail)
        if write:
            await self._write()
        else:
            self.dirty = True

    async def _write(self) -> None:
        columns = self.snapshot()
        row = RowWrite(self.op_id, self.fence, steps=columns["steps"], checkpoints=columns["checkpoints"])
        if not await self.writes.write(row):
            raise LeaseLostError(self.op_id)


def _mark(steps: list[dict[str, Any]], name: str, state: str, fence: int, now: str, detail: str | None = None) -> None:
    """End this attempt's running record of step ``name`` in ``state``, or add a record when there is none."""
    for step in reversed(steps):
        if step["name"] == name and step["state"] == "running" and step.get("attempt") == fence:
            step.update(state=state, finished_at=now)
            if detail is not None:
                step["detail"] = detail
            return
    record: dict[str, Any] = {"name": name, "state": state, "started_at": now, "attempt": fence}
    if detail is not None:
        record["detail"] = detail
    steps.append(record)
