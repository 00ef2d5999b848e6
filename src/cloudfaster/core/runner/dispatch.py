"""Delivery of operation ids to runners: in this process (``memory``), or through a shared broker
(``shared_broker``, loaded only then); the database row, not the broker, owns the work."""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from cloudfaster.core.runner.runner import OperationRunner
from cloudfaster.settings import WorkerSettings

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
    if settings.broker == "memory":
        return LocalBroker()
    from cloudfaster.core.runner.shared_broker import make_shared_broker

    return make_shared_broker(settings)


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
    from taskiq import AsyncBroker

    from cloudfaster.core.runner.shared_broker import bind_shared

    assert isinstance(broker, AsyncBroker)
    bind_shared(broker, runner)


async def receive_forever(broker: Broker, settings: WorkerSettings, stop: asyncio.Event) -> None:
    """Take operation ids from the shared broker until ``stop`` is set (not for the local one)."""
    from taskiq import AsyncBroker

    from cloudfaster.core.runner import shared_broker

    assert isinstance(broker, AsyncBroker)
    await shared_broker.receive_forever(broker, settings, stop)
