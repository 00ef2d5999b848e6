"""Polling a probe until a condition holds or a deadline passes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Polled(Generic[T]):
    """The last value the probe returned, and whether the condition held for it (False: the deadline passed)."""

    value: T
    done: bool


async def poll_until(
    probe: Callable[[], Awaitable[T]],
    done: Callable[[T], bool],
    *,
    timeout_s: float,
    interval_s: float | Callable[[], float],
) -> Polled[T]:
    """Call ``probe`` until ``done`` holds for its value or ``timeout_s`` has passed; never sleeps past the deadline.

    ``interval_s`` may be a function, read before each sleep, for intervals that adapt to load.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        value = await probe()
        if done(value):
            return Polled(value, True)
        remaining = deadline - loop.time()
        if remaining <= 0:
            return Polled(value, False)
        interval = interval_s() if callable(interval_s) else interval_s
        await asyncio.sleep(min(interval, remaining))
