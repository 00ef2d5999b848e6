"""Delivery of operation ids to runners through taskiq; the database row, not the broker, owns the work."""

from __future__ import annotations

from taskiq import AsyncBroker, Context, InMemoryBroker, TaskiqDepends

from cloudfaster.runner.runner import OperationRunner
from cloudfaster.settings import WorkerSettings

TASK_NAME = "cloudfaster.run_operation"


def make_broker(settings: WorkerSettings) -> AsyncBroker:
    """The broker named in the settings; ``memory`` runs operations inside this process."""
    if settings.broker == "memory":
        return InMemoryBroker(max_async_tasks=settings.concurrency)
    raise NotImplementedError(f"broker {settings.broker!r} arrives with the scale-out work")


async def _run_operation(op_id: str, context: Context = TaskiqDepends()) -> None:
    runner: OperationRunner = context.state.runner
    await runner.run(op_id)


def bind(broker: AsyncBroker, runner: OperationRunner) -> None:
    """Make ``runner`` execute what the broker delivers, and send its dispatches through the broker."""
    task = broker.register_task(_run_operation, task_name=TASK_NAME)
    broker.state.runner = runner

    async def dispatch(op_id: str) -> None:
        await task.kiq(op_id)

    runner.dispatch = dispatch
