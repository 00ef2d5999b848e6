"""A periodic background job that logs its failures and stops cleanly on shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable

log = logging.getLogger("cloudfaster.core.loops")


class PeriodicTask:
    """Runs ``body`` every ``interval_s`` (± ``jitter``, a fraction, so several workers do not run in step).

    A failing pass is logged and the next one runs as planned; ``stop`` cancels the loop and waits for it.
    """

    def __init__(
        self,
        name: str,
        body: Callable[[], Awaitable[object]],
        interval_s: float,
        *,
        jitter: float = 0.0,
        run_first: bool = False,
    ) -> None:
        self.name = name
        self._body = body
        self._interval_s = interval_s
        self._jitter = jitter
        self._run_first = run_first
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the loop (once)."""
        if self._task is None:
            self._task = asyncio.create_task(self._forever(), name=self.name)

    async def stop(self) -> None:
        """Cancel the loop and wait until it has ended."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    @property
    def running(self) -> bool:
        """Whether the loop is started and has not ended."""
        return self._task is not None and not self._task.done()

    def _delay(self) -> float:
        return self._interval_s * random.uniform(1 - self._jitter, 1 + self._jitter)

    async def _forever(self) -> None:
        if not self._run_first:
            await asyncio.sleep(self._delay())
        while True:
            try:
                await self._body()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("%s failed; it runs again in %.0fs", self.name, self._interval_s, exc_info=True)
            await asyncio.sleep(self._delay())
