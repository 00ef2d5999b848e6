"""Claims operation rows with compare-and-set, runs them under a heartbeated lease, and sweeps for lost work."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import or_, select, update
from sqlalchemy.exc import DBAPIError

from cloudfaster.core.errors import UpstreamUnavailableError
from cloudfaster.core.loops import PeriodicTask
from cloudfaster.core.runner import endings
from cloudfaster.core.runner.context import LeaseLostError, OperationContext
from cloudfaster.core.runner.fenced import Claim, FencedWrites, Renewal
from cloudfaster.core.runner.kinds import OperationFailedError, OperationKind, RetryableError
from cloudfaster.db.base import utcnow
from cloudfaster.db.engine import Database
from cloudfaster.db.errors import database_unreachable, is_deadlock
from cloudfaster.db.models import Operation
from cloudfaster.settings import WorkerSettings

log = logging.getLogger("cloudfaster.core.runner")

Dispatch = Callable[[str], Awaitable[None]]

# A pending row is re-dispatched by the sweeper only when it has sat untouched this long,
# so a dispatch that is merely in flight is not doubled (the CAS claim would reject it anyway).
PENDING_GRACE = timedelta(seconds=2)


def _params(kind: OperationKind[Any] | None, stored: Any) -> BaseModel | None:
    """The operation's params as its kind's model, or None when they do not validate (or the kind is unknown)."""
    if kind is None:
        return None
    try:
        params: BaseModel = kind.params.model_validate(stored)
    except ValidationError:
        log.exception("stored params do not fit %s", kind.name)
        return None
    return params


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class OperationRunner:
    """Runs operations of the registered kinds; any number of runners may share one database."""

    def __init__(self, db: Database, settings: WorkerSettings, kinds: dict[str, OperationKind[Any]]) -> None:
        self.db = db
        self.writes = FencedWrites(db)
        self.settings = settings
        self.kinds = kinds
        self.host = socket.gethostname()
        self.owner = f"{self.host}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.dispatch: Dispatch = self.run
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._held: dict[str, int] = {}  # operations whose lease the heartbeat renews -> their fencing token
        self._lost: set[str] = set()  # operations the heartbeat stopped: another runner holds them now
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._sweeper = PeriodicTask("operation sweep", self.sweep, settings.sweep_interval_s, run_first=True)
        self._heartbeat: PeriodicTask | None = None  # started with the first operation, on the loop that runs it
        self._closing = False

    @property
    def lease(self) -> timedelta:
        """How long a claim lasts without a heartbeat."""
        return timedelta(seconds=self.settings.lease_s)

    @property
    def in_flight(self) -> int:
        """Operations this runner is working on now."""
        return len(self._tasks)

    async def run(self, op_id: str) -> None:
        """Claim and run one operation; a no-op when it is finished or held by a live runner."""
        if self._closing or op_id in self._tasks:
            return
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("OperationRunner.run must run inside an asyncio task")
        async with self._slots:
            op = await self._claim(op_id)
            if op is None:
                return
            self._tasks[op_id] = task
            endings.started(op_id)
            try:
                await self._execute(op)
            finally:
                self._tasks.pop(op_id, None)
                endings.stopped(op_id)  # a ?wait= in this process reads the row now, not at its next poll

    async def _claim(self, op_id: str) -> Operation | None:
        """Take the operation if it is due or its lease lapsed: its row as claimed (``attempt`` is the fence)."""
        now = utcnow()
        return await self.writes.claim(Claim(op_id, self.owner, now=now, until=now + self.lease))

    async def _execute(self, op: Operation) -> None:
        op_id, fence = op.id, op.attempt
        kind = self.kinds.get(op.kind)
        params = _params(kind, op.params)
        ctx: OperationContext[Any] = OperationContext(
            self.writes,
            op_id=op.id,
            kind=op.kind,
            target_id=op.target_id,
            owner_userid=op.owner_userid,
            params=params,
            fence=fence,
            checkpoints=op.checkpoints,
            steps=op.steps,
        )
        if kind is None:
            await self._finish(ctx, "failed", error={"code": "unknown_kind", "message": f"no handler for {op.kind}"})
            return
        if params is None:
            await self._finish(
                ctx, "failed", error={"code": "invalid_params", "message": f"stored params do not fit {op.kind}"}
            )
            return
        if fence > self.settings.max_attempts:
            await self._fail(
                kind, ctx, OperationFailedError(f"gave up after {fence - 1} attempts", code="max_attempts")
            )
            return
        log.info("operation %s (%s) attempt %d started", op.id, op.kind, fence, extra={"operation_id": op.id})
        self._held[op_id] = fence
        if self._heartbeat is None or not self._heartbeat.running:
            self._heartbeat = PeriodicTask("lease heartbeat", self.renew_leases, self.settings.lease_s / 3)
            self._heartbeat.start()
        try:
            result = await kind.run(ctx)
        except LeaseLostError:
            log.warning("operation %s: lease lost, another runner took over", op_id, extra={"operation_id": op_id})
            return
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if op_id in self._lost and task is not None:  # the heartbeat found another runner holding it
                self._lost.discard(op_id)
                task.uncancel()
                return
            if self._closing:
                await self._release(ctx)
            raise
        except RetryableError as exc:
            await self._retry_or_fail(kind, ctx, exc)
        except UpstreamUnavailableError as exc:  # an upstream that is down now may answer later: retry, no verdict
            await self._retry_or_fail(kind, ctx, RetryableError(exc.message, code=exc.code))
        except OperationFailedError as exc:
            await self._fail(kind, ctx, exc)
        except Exception as exc:
            if isinstance(exc, DBAPIError) and not exc.connection_invalidated and is_deadlock(exc):
                # The engine rolled a transaction back to break a deadlock: nothing is wrong with the operation or
                # the database, so run it again from its checkpoints now, not once its lease lapses.
                deadlock = RetryableError("the database broke a deadlock; retrying", code="database_deadlock")
                await self._retry_or_fail(kind, ctx, deadlock)
                return
            if database_unreachable(exc):
                # Not the operation's fault: no clean-up, no verdict. The lease lapses and a runner resumes the
                # operation from its checkpoints once the database is back.
                log.warning("operation %s: database unreachable, leaving it to be resumed", op_id, exc_info=True)
                return
            log.exception("operation %s crashed", op_id, extra={"operation_id": op_id})
            await self._fail(kind, ctx, OperationFailedError(f"internal error: {type(exc).__name__}", code="internal"))
        else:
            await self._finish(ctx, "succeeded", result=result)
            log.info("operation %s (%s) succeeded", op_id, op.kind, extra={"operation_id": op_id})
        finally:
            self._held.pop(op_id, None)

    async def renew_leases(self) -> None:
        """Renew the lease of every operation this runner works on, in one write; stop those another runner
        took over (their fencing token is stale)."""
        held = dict(self._held)
        if not held:
            return
        try:
            kept = await self.writes.renew(Renewal(held, self.owner, until=utcnow() + self.lease))
        except Exception:
            log.warning("lease heartbeat failed, will retry", exc_info=True)
            return
        for op_id, fence in held.items():
            task = self._tasks.get(op_id)
            if op_id not in kept and self._held.get(op_id) == fence and task is not None:
                log.warning("operation %s: lease lost, another runner took over; stopping", op_id)
                self._lost.add(op_id)
                task.cancel()

    async def _retry_or_fail(self, kind: OperationKind[Any], ctx: OperationContext[Any], exc: RetryableError) -> None:
        if ctx.fence >= self.settings.max_attempts:
            await self._fail(kind, ctx, OperationFailedError(str(exc), code=exc.code))
            return
        self._held.pop(ctx.op_id, None)
        delay = min(2 ** (ctx.fence - 1), 60)
        log.warning("operation %s: %s; retry in %ss", ctx.op_id, exc, delay, extra={"operation_id": ctx.op_id})
        async with self.db.write() as session:
            await session.execute(
                update(Operation)
                .where(Operation.id == ctx.op_id, Operation.attempt == ctx.fence)
                .values(
                    **ctx.snapshot(),
                    state="pending",
                    lease_owner=None,
                    lease_expires_at=None,
                    not_before=utcnow() + timedelta(seconds=delay),
                    error={"code": exc.code, "message": str(exc), "retrying": True},
                    updated_at=utcnow(),
                )
            )
        asyncio.get_running_loop().call_later(delay, lambda: asyncio.ensure_future(self.dispatch(ctx.op_id)))

    async def _fail(self, kind: OperationKind[Any], ctx: OperationContext[Any], exc: OperationFailedError) -> None:
        log.error("operation %s failed: %s", ctx.op_id, exc, extra={"operation_id": ctx.op_id})
        try:
            await kind.on_failure(ctx, exc)
        except LeaseLostError:
            return
        except Exception:
            log.exception("operation %s: clean-up after failure crashed", ctx.op_id)
        error: dict[str, Any] = {"code": exc.code, "message": str(exc)}
        if exc.details is not None:
            error["details"] = exc.details
        await self._finish(ctx, "failed", error=error)

    async def _finish(
        self,
        ctx: OperationContext[Any],
        state: str,
        *,
        result: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
    ) -> None:
        self._held.pop(ctx.op_id, None)  # the end is written fenced: a lease lapsing now changes nothing
        now = utcnow()
        try:
            async with self.db.write() as session:
                ended = await session.execute(
                    update(Operation)
                    .where(Operation.id == ctx.op_id, Operation.attempt == ctx.fence, Operation.state == "running")
                    .values(
                        **ctx.snapshot(),
                        state=state,
                        result=result,
                        error=error,
                        active_target=None,
                        lease_owner=None,
                        lease_expires_at=None,
                        finished_at=now,
                        updated_at=now,
                    )
                )
                if ended.rowcount != 1:  # type: ignore[attr-defined]
                    raise LeaseLostError(ctx.op_id)  # rolls back what the kind wanted written with its success
                if state == "succeeded":
                    for write in ctx.on_success:
                        await write(session)
        except LeaseLostError:
            log.warning("operation %s: lease lost before its end was written", ctx.op_id)

    async def _release(self, ctx: OperationContext[Any]) -> None:
        """Hand an operation back (shutdown): pending again, immediately claimable elsewhere."""
        self._held.pop(ctx.op_id, None)
        async with self.db.write() as session:
            await session.execute(
                update(Operation)
                .where(Operation.id == ctx.op_id, Operation.attempt == ctx.fence, Operation.state == "running")
                .values(**ctx.snapshot(), state="pending", lease_owner=None, lease_expires_at=None, updated_at=utcnow())
            )
        log.info("operation %s handed back", ctx.op_id, extra={"operation_id": ctx.op_id})

    async def sweep(self) -> int:
        """Dispatch every operation that is due or whose runner is gone; returns how many."""
        now = utcnow()
        await self._expire_dead_local_owners()
        async with self.db.read() as session:
            ids = list(
                (
                    await session.execute(
                        select(Operation.id).where(
                            or_(
                                (Operation.state == "pending")
                                & (Operation.not_before <= now)
                                & (Operation.updated_at <= now - PENDING_GRACE),
                                (Operation.state == "running") & (Operation.lease_expires_at < now),
                            )
                        )
                    )
                ).scalars()
            )
        for op_id in ids:
            if op_id not in self._tasks:
                await self.dispatch(op_id)
        return len(ids)

    async def _expire_dead_local_owners(self) -> None:
        """A lease held by a process of this host that no longer exists ends now, not when it times out."""
        async with self.db.read() as session:
            rows = (
                await session.execute(
                    select(Operation.id, Operation.lease_owner, Operation.attempt).where(
                        Operation.state == "running", Operation.lease_owner.like(f"{self.host}:%")
                    )
                )
            ).all()
        for op_id, owner, attempt in rows:
            _, pid, _ = (owner or "::").split(":", 2)
            if owner == self.owner or not pid.isdigit():
                continue
            if int(pid) == os.getpid() or not _pid_alive(int(pid)):
                async with self.db.write() as session:
                    await session.execute(
                        update(Operation)
                        .where(Operation.id == op_id, Operation.attempt == attempt, Operation.state == "running")
                        .values(lease_expires_at=utcnow() - timedelta(seconds=1))
                    )
                log.info("operation %s: its runner %s is gone, reclaiming", op_id, owner)

    def start_sweeper(self) -> None:
        """Sweep now and then every ``sweep_interval_s``."""
        self._sweeper.start()

    async def shutdown(self, grace_s: float = 10.0) -> None:
        """Stop taking work, let running operations finish for ``grace_s``, then hand the rest back."""
        self._closing = True
        await self._sweeper.stop()
        pending = list(self._tasks.values())
        if pending:
            _, still = await asyncio.wait(pending, timeout=grace_s)
            for task in still:
                task.cancel()
            await asyncio.gather(*still, return_exceptions=True)
        if self._heartbeat is not None:
            await self._heartbeat.stop()
