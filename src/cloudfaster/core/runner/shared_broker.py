"""Delivery through taskiq and a shared broker (RabbitMQ or Redis), for API replicas and separate workers.

Imported only where such a broker is configured: taskiq and the aiohttp it pulls in hold 11 MB resident.
Messages are acknowledged on receipt: a lost or duplicated message costs nothing, because the sweeper re-dispatches
due rows and the compare-and-set claim lets only one runner execute an operation.
"""

from __future__ import annotations

import asyncio
import logging

from taskiq import AsyncBroker, Context, TaskiqDepends
from taskiq.acks import AcknowledgeType
from taskiq.receiver import Receiver

from cloudfaster.core.runner.runner import OperationRunner
from cloudfaster.settings import WorkerSettings

TASK_NAME = "cloudfaster.run_operation"

log = logging.getLogger("cloudfaster.core.runner")


def make_shared_broker(settings: WorkerSettings) -> AsyncBroker:
    """The RabbitMQ or Redis broker named in the settings."""
    url = settings.broker_url.get_secret_value() if settings.broker_url else None
    if settings.broker == "rabbitmq":
        from taskiq_aio_pika import AioPikaBroker
        from taskiq_aio_pika.queue import Queue, QueueType

        queue = Queue(name=settings.queue, type=QueueType.CLASSIC, durable=True)
        return AioPikaBroker(url=url, qos=settings.concurrency, task_queues=[queue])
    from taskiq_redis import ListQueueBroker

    return ListQueueBroker(url=url or "redis://127.0.0.1:6379", queue_name=settings.queue)


async def _run_operation(op_id: str, context: Context = TaskiqDepends()) -> None:
    runner: OperationRunner = context.state.runner
    await runner.run(op_id)


def bind_shared(broker: AsyncBroker, runner: OperationRunner) -> None:
    """Make ``runner`` execute what the broker delivers, and send its dispatches through the broker."""
    task = broker.register_task(_run_operation, task_name=TASK_NAME)
    broker.state.runner = runner

    async def dispatch(op_id: str) -> None:
        try:
            await task.kiq(op_id)
        except Exception:
            # The row stays pending: the sweeper dispatches it again, so a broker outage loses nothing.
            log.warning("could not dispatch operation %s; the sweeper will retry", op_id, exc_info=True)

    runner.dispatch = dispatch


async def receive_forever(broker: AsyncBroker, settings: WorkerSettings, stop: asyncio.Event) -> None:
    """Take operation ids from the shared broker until ``stop`` is set, reconnecting after broker outages."""
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
