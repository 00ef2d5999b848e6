"""Delivery of operation ids to runners: in this process (``memory``), or through taskiq and a shared broker; the
database row, not the broker, owns the work.

Messages are acknowledged on receipt: a lost or duplicated message costs nothing, because the sweeper re-dispatches
due rows and the compare-and-set claim lets only one runner execute an operation.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from cloudfaster.core.runner.runner import OperationRunner
from cloudfaster.settings import WorkerSettings

# taskiq (and the aiohttp it pulls in, 11 MB) is imported only where a shared broker is used.

TASK_NAME = "cloudfaster.run_operation"

log = logging.getLogger("cloudfaster.core.runner")


class Broker(Protocol):
    """What the instance needs of a broker: start it, stop it, and whether this process runs what it delivers."""

    is_worker_process: bool

    async def startup(self) -> None:
        """Connect (or get ready)."""

    async def shutdown(self) -> None:
        """Disconnect; nothing it delivered is still running afterwards."""


class LocalBroker:
    """The ``memory`` broker: a dispatch runs the operation as a task of this process (the runner's slots bound
    how many run at once)."""

    def __init__(self) -> None:
        self.is_worker_process = True
        self.runner: OperationRunner | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def startup(self) -> None:
        """Nothing to connect to."""

    def submit(self, op_id: str) -> None:
        """Run the operation in the background."""
        if self.runner is None:
            raise RuntimeError("LocalBroker.submit before bind()")
        task = asyncio.create_task(self._run(self.runner, op_id), name=f"operation {op_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _run(runner: OperationRunner, op_id: str) -> None:
        try:
            await runner.run(op_id)
        except Exception:  # the row stays claimable: the sweeper takes it up again once its claim runs out
            log.exception("operation %s: the runner failed", op_id)

    async def shutdown(self) -> None:
        """Cancel what still waits (the runner has handed back what ran) and wait for it."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def make_broker(settings: WorkerSettings) -> Broker:
    """The broker named in the settings; ``memory`` runs operations inside this process."""
    url = settings.broker_url.get_secret_value() if settings.broker_url else None
    if settings.broker == "memory":
        return LocalBroker()
    if settings.broker == "rabbitmq":
        from taskiq_aio_pika import AioPikaBroker
        from taskiq_aio_pika.queue import Queue, QueueType

        queue = Queue(name=settings.queue, type=QueueType.CLASSIC, durable=True)
        return AioPikaBroker(url=url, qos=settings.concurrency, task_queues=[queue])
    from taskiq_redis import ListQueueBroker

    return ListQueueBroker(url=url or "redis://127.0.0.1:6379", queue_name=settings.queue)


def is_local(broker: Broker) -> bool:
    """Whether the broker delivers inside this process (no receiver loop needed)."""
    return isinstance(broker, LocalBroker)


def bind(broker: Broker, runner: OperationRunner) -> None:
    """Make ``runner`` execute what the broker delivers, and send its dispatches through the broker."""
    if isinstance(broker, LocalBroker):
        broker.runner = runner

        async def submit(op_id: str) -> None:
            broker.submit(op_id)

        runner.dispatch = submit
        return
    from taskiq import AsyncBroker, Context, TaskiqDepends

    assert isinstance(broker, AsyncBroker)

    async def run_operation(op_id: str, context: Context = TaskiqDepends()) -> None:
        delivered_to: OperationRunner = context.state.runner
        await delivered_to.run(op_id)

    task = broker.register_task(run_operation, task_name=TASK_NAME)
    broker.state.runner = runner

    async def dispatch(op_id: str) -> None:
        try:
            await task.kiq(op_id)
        except Exception:
            # The row stays pending: the sweeper dispatches it again, so a broker outage loses nothing.
            log.warning("could not dispatch operation %s; the sweeper will retry", op_id, exc_info=True)

    runner.dispatch = dispatch


async def receive_forever(broker: Broker, settings: WorkerSettings, stop: asyncio.Event) -> None:
    """Take operation ids from a shared broker until ``stop`` is set, reconnecting after broker outages."""
    from taskiq import AsyncBroker
    from taskiq.acks import AcknowledgeType
    from taskiq.receiver import Receiver

    assert isinstance(broker, AsyncBroker)
    while not stop.is_set():
        receiver = Receiver(
            broker,
            max_async_tasks=settings.concurrency,
            ack_type=AcknowledgeType.WHEN_RECEIVED,
            run_startup=False,
            propagate_exceptions=False,
        )
        try:
            await receiver.listen(stop)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("broker connection lost; reconnecting in 1 s", exc_info=True)
            await asyncio.sleep(1)
