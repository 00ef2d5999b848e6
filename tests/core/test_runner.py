"""The operations runner on real databases: claims, fencing, checkpoints, retries, sweeping."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, update

from cloudfaster.core import operations as op_service
from cloudfaster.core.errors import ConflictError
from cloudfaster.core.runner import endings
from cloudfaster.core.runner.runner import OperationRunner
from cloudfaster.db.base import utcnow
from cloudfaster.db.engine import Database
from cloudfaster.db.models import Operation
from cloudfaster.settings import WorkerSettings
from tests.support.kinds import StepsKind, StepsParams


def make_runner(db: Database, kind: StepsKind, **settings: float) -> OperationRunner:
    values = {"lease_s": 3.0, "sweep_interval_s": 0.2, "max_attempts": 3} | settings
    return OperationRunner(db, WorkerSettings.model_validate(values), {kind.name: kind})


async def add_op(db: Database, steps: int, *, target: str = "t1", fail: bool = False) -> str:
    op = op_service.new_operation(
        kind="test.steps", target_type="thing", target_id=target, owner_userid="u",
        params=StepsParams(steps=steps, fail=fail), idempotency_key=None, body_hash=None,
    )  # fmt: skip
    async with db.write() as session:
        await op_service.flush_operation(session, op)
    return op.id


async def load(db: Database, op_id: str) -> Operation:
    async with db.read() as session:
        op = await session.get(Operation, op_id)
    assert op is not None
    return op


async def test_duplicate_deliveries_run_the_body_once(db: Database, tmp_path: Path) -> None:
    kind = StepsKind(tmp_path, delay_s=0.05)
    runner = make_runner(db, kind)
    op_id = await add_op(db, 3)
    await asyncio.gather(*(runner.run(op_id) for _ in range(5)))
    op = await load(db, op_id)
    assert op.state == "succeeded"
    assert op.attempt == 1
    assert op.active_target is None
    assert op.result == {"steps": 3}
    assert kind.log_of(op_id) == ["step-0", "step-1", "step-2"]
    assert [s["state"] for s in op.steps] == ["done", "done", "done"]


async def test_two_runners_racing_run_it_once(db: Database, tmp_path: Path) -> None:
    kind = StepsKind(tmp_path, delay_s=0.05)
    first, second = make_runner(db, kind), make_runner(db, kind)
    op_id = await add_op(db, 2)
    await asyncio.gather(first.run(op_id), second.run(op_id), first.run(op_id), second.run(op_id))
    assert kind.log_of(op_id) == ["step-0", "step-1"]


async def test_resume_skips_checkpointed_steps(db: Database, tmp_path: Path) -> None:
    kind = StepsKind(tmp_path)
    op_id = await add_op(db, 3)
    async with db.write() as session:
        await session.execute(
            update(Operation).where(Operation.id == op_id).values(checkpoints={"step-0": "did-0", "step-1": "did-1"})
        )
    await make_runner(db, kind).run(op_id)
    assert kind.log_of(op_id) == ["step-2"]
    assert (await load(db, op_id)).state == "succeeded"


async def test_stale_fence_stops_side_effects(db: Database, tmp_path: Path) -> None:
    kind = StepsKind(tmp_path, delay_s=0.3)
    runner = make_runner(db, kind)
    op_id = await add_op(db, 4)
    task = asyncio.create_task(runner.run(op_id))
    await asyncio.sleep(0.15)  # inside step-0
    async with db.write() as session:  # another runner takes over: the attempt (fence) moves on
        await session.execute(update(Operation).where(Operation.id == op_id).values(attempt=Operation.attempt + 1))
    await task
    # step-0's effect happened, but the stale runner could not record it and stopped there.
    assert kind.log_of(op_id) == ["step-0"]
    op = await load(db, op_id)
    assert op.state == "running"
    assert op.checkpoints == {}


async def test_expired_lease_is_taken_over_by_the_sweeper(db: Database, tmp_path: Path) -> None:
    kind = StepsKind(tmp_path)
    op_id = await add_op(db, 2)
    async with db.write() as session:  # a runner on another host claimed it, did step-0, then vanished
        await session.execute(
            update(Operation)
            .where(Operation.id == op_id)
            .values(
                state="running", attempt=1, lease_owner="elsewhere:1:dead", checkpoints={"step-0": "did-0"},
                lease_expires_at=utcnow() - timedelta(seconds=1),
            )
        )  # fmt: skip
    runner = make_runner(db, kind)
    assert await runner.sweep() == 1
    op = await load(db, op_id)
    assert op.state == "succeeded"
    assert op.attempt == 2
    assert kind.log_of(op_id) == ["step-1"]


async def test_live_lease_is_left_alone(db: Database, tmp_path: Path) -> None:
    kind = StepsKind(tmp_path)
    op_id = await add_op(db, 1)
    async with db.write() as session:
        await session.execute(
            update(Operation)
            .where(Operation.id == op_id)
            .values(state="running", attempt=1, lease_owner="elsewhere:1:x", lease_expires_at=utcnow() + timedelta(60))
        )
    runner = make_runner(db, kind)
    await runner.sweep()
    await runner.run(op_id)
    assert kind.log_of(op_id) == []
    assert (await load(db, op_id)).state == "running"


async def test_a_deadlock_is_retried_at_once_not_left_for_the_lease(db: Database, tmp_path: Path) -> None:
    kind = StepsKind(tmp_path, deadlocks=1)
    runner = make_runner(db, kind, lease_s=60.0)  # no sweeper runs: only the runner's own retry can finish it
    op_id = await add_op(db, 2)
    await runner.run(op_id)
    op = await load(db, op_id)
    assert (op.state, op.error is not None and op.error["code"]) == ("pending", "database_deadlock")
    for _ in range(50):
        if (await load(db, op_id)).state == "succeeded":
            break
        await asyncio.sleep(0.1)
    op = await load(db, op_id)
    assert (op.state, op.attempt) == ("succeeded", 2)
    assert kind.log_of(op_id) == ["step-0", "step-1"]
    assert kind.failures_seen == []  # no clean-up ran


async def test_retryable_error_retries_with_backoff(db: Database, tmp_path: Path) -> None:
    kind = StepsKind(tmp_path, flaky_failures=1)
    runner = make_runner(db, kind)
    op_id = await add_op(db, 2)
    await runner.run(op_id)
    op = await load(db, op_id)
    assert op.state == "pending"
    assert op.error is not None
    assert op.error["retrying"] is True
    assert op.not_before > utcnow()
    await asyncio.sleep(1.2)  # backoff of attempt 1 is 1 s; the runner re-dispatches by itself
    for _ in range(50):
        if (await load(db, op_id)).state == "succeeded":
            break
        await asyncio.sleep(0.1)
    op = await load(db, op_id)
    assert op.state == "succeeded"
    assert op.attempt == 2
    assert kind.log_of(op_id) == ["step-0", "step-1"]


async def test_retries_stop_at_max_attempts(db: Database, tmp_path: Path) -> None:
    kind = StepsKind(tmp_path, flaky_failures=100)
    runner = make_runner(db, kind, max_attempts=2)
    op_id = await add_op(db, 1)
    await runner.run(op_id)
    async with db.write() as session:
        await session.execute(update(Operation).where(Operation.id == op_id).values(not_before=utcnow()))
    await runner.run(op_id)
    op = await load(db, op_id)
    assert op.state == "failed"
    assert op.error is not None
    assert op.error["code"] == "transient_error"
    assert op.active_target is None


async def test_failure_calls_on_failure_and_frees_the_resource(db: Database, tmp_path: Path) -> None:
    kind = StepsKind(tmp_path)
    runner = make_runner(db, kind)
    op_id = await add_op(db, 1, fail=True)
    await runner.run(op_id)
    op = await load(db, op_id)
    assert op.state == "failed"
    assert op.error == {"code": "asked_to_fail", "message": "asked to fail", "details": {"steps": 1}}
    assert kind.failures_seen == ["asked_to_fail"]
    # The resource is free again: a new operation on it is accepted.
    await add_op(db, 1)


async def test_one_active_operation_per_resource(db: Database) -> None:
    await add_op(db, 1, target="busy")
    with pytest.raises(ConflictError) as caught:
        await add_op(db, 1, target="busy")
    assert caught.value.code == "operation_in_progress"


async def test_idempotency_key_replay_and_misuse(db: Database) -> None:
    body = op_service.request_hash({"a": 1})
    op = op_service.new_operation(
        kind="test.steps", target_type="thing", target_id="k", owner_userid="u", params=StepsParams(steps=1),
        idempotency_key="key-1", body_hash=body,
    )  # fmt: skip
    async with db.write() as session:
        await op_service.flush_operation(session, op)
    async with db.read() as session:
        replay = await op_service.find_replay(session, owner_userid="u", idempotency_key="key-1", body_hash=body)
        assert replay is not None
        assert replay.operation.id == op.id
        assert await op_service.find_replay(session, owner_userid="v", idempotency_key="key-1", body_hash=body) is None
        with pytest.raises(ConflictError) as caught:
            await op_service.find_replay(
                session, owner_userid="u", idempotency_key="key-1", body_hash=op_service.request_hash({"a": 2})
            )
        assert caught.value.code == "idempotency_key_reused"


async def test_shutdown_hands_back_what_it_holds(db: Database, tmp_path: Path) -> None:
    kind = StepsKind(tmp_path, delay_s=1.0)
    runner = make_runner(db, kind)
    op_id = await add_op(db, 3)
    task = asyncio.create_task(runner.run(op_id))
    await asyncio.sleep(0.3)
    await runner.shutdown(grace_s=0.1)
    await asyncio.gather(task, return_exceptions=True)
    op = await load(db, op_id)
    assert op.state == "pending"
    assert op.lease_owner is None
    other = make_runner(db, StepsKind(tmp_path))
    await other.run(op_id)
    assert (await load(db, op_id)).state == "succeeded"


async def test_one_heartbeat_write_keeps_every_lease(db: Database, tmp_path: Path) -> None:
    kind = StepsKind(tmp_path, delay_s=0.5)
    runner = make_runner(db, kind, lease_s=0.6)  # each operation runs 1.5 s, 2.5 leases
    op_ids = [await add_op(db, 3, target=f"t{n}") for n in range(8)]
    renewals: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if statement.startswith("UPDATE operations SET lease_expires_at"):
            renewals.append(statement)

    event.listen(db.write_engine.sync_engine, "before_cursor_execute", count)
    try:
        await asyncio.gather(*(runner.run(op_id) for op_id in op_ids))
    finally:
        event.remove(db.write_engine.sync_engine, "before_cursor_execute", count)
    ops = [await load(db, op_id) for op_id in op_ids]
    assert [(op.state, op.attempt) for op in ops] == [("succeeded", 1)] * 8  # no lease lapsed, none re-run
    assert 3 <= len(renewals) <= 12  # one write per 0.2 s for all eight, not one per operation


async def test_heartbeat_stops_an_operation_another_runner_took_over(db: Database, tmp_path: Path) -> None:
    kind = StepsKind(tmp_path, delay_s=0.5)
    runner = make_runner(db, kind, lease_s=0.6)
    op_id = await add_op(db, 6)
    task = asyncio.create_task(runner.run(op_id))
    await asyncio.sleep(0.25)  # inside step-0
    async with db.write() as session:  # another runner claimed it
        await session.execute(
            update(Operation)
            .where(Operation.id == op_id)
            .values(
                attempt=Operation.attempt + 1, lease_owner="elsewhere:1:x", lease_expires_at=utcnow() + timedelta(60)
            )
        )
    await asyncio.wait_for(task, timeout=2)  # stopped by the next heartbeat, not after its six steps (3 s)
    assert not task.cancelled()
    assert kind.log_of(op_id) in ([], ["step-0"])  # stopped within step-0 or right after it
    assert runner.in_flight == 0
    op = await load(db, op_id)
    assert (op.lease_owner, op.attempt, op.state) == ("elsewhere:1:x", 2, "running")  # the new holder's, untouched


# ``?wait=``: the bounds below only keep a broken wake-up from hanging the suite; nothing here measures speed.
NEVER_S = 3600.0


async def test_wait_wakes_when_a_runner_of_this_process_ends_the_operation(db: Database, tmp_path: Path) -> None:
    runner = make_runner(db, StepsKind(tmp_path, delay_s=0.1))
    op_id = await add_op(db, 2)
    task = asyncio.create_task(runner.run(op_id))
    async with asyncio.timeout(30):  # no poll would come before an hour: only the runner's announcement wakes it
        op = await op_service.wait_for_end(db, op_id, NEVER_S, poll_s=NEVER_S, local_poll_s=NEVER_S)
    await task
    assert op.state == "succeeded"
    assert op.result == {"steps": 2}
    assert endings.watched() == 0


async def test_wait_sees_another_processes_runner_end_it_by_polling(db: Database) -> None:
    op_id = await add_op(db, 1)
    async with db.write() as session:  # claimed by a runner elsewhere, which announces nothing to this process
        await session.execute(
            update(Operation)
            .where(Operation.id == op_id)
            .values(state="running", attempt=1, lease_owner="elsewhere:1:x", lease_expires_at=utcnow() + timedelta(60))
        )
    waiting = asyncio.create_task(op_service.wait_for_end(db, op_id, NEVER_S, poll_s=0.05, local_poll_s=NEVER_S))
    await asyncio.sleep(0.2)
    assert not waiting.done()
    async with db.write() as session:
        await session.execute(
            update(Operation).where(Operation.id == op_id).values(state="succeeded", active_target=None)
        )
    async with asyncio.timeout(30):
        op = await waiting
    assert op.state == "succeeded"


async def test_wait_goes_back_to_polling_when_this_process_loses_the_operation(db: Database, tmp_path: Path) -> None:
    kind = StepsKind(tmp_path, delay_s=0.3)
    runner = make_runner(db, kind)
    op_id = await add_op(db, 4)
    running = asyncio.create_task(runner.run(op_id))
    waiting = asyncio.create_task(op_service.wait_for_end(db, op_id, NEVER_S, poll_s=0.05, local_poll_s=NEVER_S))
    await asyncio.sleep(0.15)  # inside step-0, run here
    async with db.write() as session:  # a runner of another process takes over (the fence moves on)...
        await session.execute(update(Operation).where(Operation.id == op_id).values(attempt=Operation.attempt + 1))
    await running  # ...this one stops at its next write
    assert not waiting.done()
    async with db.write() as session:  # ...and the other one finishes it
        await session.execute(update(Operation).where(Operation.id == op_id).values(state="failed", active_target=None))
    async with asyncio.timeout(30):
        op = await waiting
    assert op.state == "failed"
    assert kind.log_of(op_id) == ["step-0"]


async def test_wait_answers_with_the_operation_as_it_is_when_the_wait_runs_out(db: Database) -> None:
    op_id = await add_op(db, 1)  # nobody runs it
    op = await op_service.wait_for_end(db, op_id, 0.2)
    assert op.state == "pending"
    assert endings.watched() == 0
