"""The group-commit queue on its own (no database): ordering, batching, errors and cancellation."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.exc import OperationalError

from cloudfaster.db.group_commit import GroupCommit


async def test_items_that_arrive_while_a_commit_runs_go_out_together_in_order() -> None:
    batches: list[list[int]] = []

    async def commit(items: list[int]) -> list[int]:
        batches.append(items)
        await asyncio.sleep(0.01)
        return [item * 10 for item in items]

    group: GroupCommit[int, int] = GroupCommit(commit)
    results = await asyncio.gather(*(group.submit(n) for n in range(6)))
    assert results == [0, 10, 20, 30, 40, 50]
    assert sorted(n for batch in batches for n in batch) == list(range(6))
    assert len(batches) <= 2


async def test_an_error_in_a_shared_commit_lands_only_on_its_item() -> None:
    async def commit(items: list[int]) -> list[int]:
        if 3 in items:
            raise ValueError("three is refused")
        return items

    group: GroupCommit[int, int] = GroupCommit(commit)
    results = await asyncio.gather(*(group.submit(n) for n in range(6)), return_exceptions=True)
    assert [r for n, r in enumerate(results) if n != 3] == [0, 1, 2, 4, 5]
    assert isinstance(results[3], ValueError)


async def test_an_unreachable_database_fails_the_whole_batch_at_once() -> None:
    calls: list[list[int]] = []

    async def commit(items: list[int]) -> list[int]:
        calls.append(items)
        await asyncio.sleep(0.01)
        raise OperationalError("UPDATE operations", None, ConnectionRefusedError("connection refused"))

    group: GroupCommit[int, int] = GroupCommit(commit)
    results = await asyncio.gather(*(group.submit(n) for n in range(6)), return_exceptions=True)
    assert all(isinstance(r, OperationalError) for r in results)
    assert len(calls) <= 2  # no write tried alone: each would only wait for the outage again


async def test_a_deadlocked_shared_commit_is_retried_item_by_item() -> None:
    calls: list[list[int]] = []

    async def commit(items: list[int]) -> list[int]:
        calls.append(items)
        await asyncio.sleep(0.01)
        if len(items) > 1:  # InnoDB rolled the shared transaction back; drivers raise it as an OperationalError
            deadlock = Exception("(1213, 'Deadlock found when trying to get lock; try restarting transaction')")
            raise OperationalError("UPDATE operations", None, deadlock)
        return [item * 10 for item in items]

    group: GroupCommit[int, int] = GroupCommit(commit)
    results = await asyncio.gather(*(group.submit(n) for n in range(6)))
    assert results == [0, 10, 20, 30, 40, 50]  # not failed as if the database were down
    shared = [batch for batch in calls if len(batch) > 1]
    assert shared, "the queued items never shared a commit"
    assert all([n] in calls for n in shared[0])


async def test_a_cancelled_commit_leaves_no_caller_waiting() -> None:
    started = asyncio.Event()

    async def commit(items: list[int]) -> list[int]:
        started.set()
        await asyncio.sleep(0.05)
        raise asyncio.CancelledError  # as when the loop shuts the drain down

    group: GroupCommit[int, int] = GroupCommit(commit)
    first = asyncio.ensure_future(group.submit(1))
    await started.wait()
    second = asyncio.ensure_future(group.submit(2))  # queued behind the first
    done, pending = await asyncio.wait({first, second}, timeout=2)
    assert pending == set()
    for task in done:
        with pytest.raises(asyncio.CancelledError):
            task.result()
