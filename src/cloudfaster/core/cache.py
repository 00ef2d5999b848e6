"""A TTL cache for async loaders in which concurrent misses of one key share a single load."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from cachetools import TTLCache

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SingleFlightCache(Generic[K, V]):
    """Values expire after ``ttl_s``; when a hot key expires, one caller reloads it and the others wait for it,
    instead of all of them queueing on the database at once."""

    def __init__(self, ttl_s: float, max_entries: int = 10_000) -> None:
        self._values: TTLCache[K, V] = TTLCache(maxsize=max_entries, ttl=ttl_s)
        self._loading: dict[K, asyncio.Future[V]] = {}

    async def get(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        """The cached value, or the result of ``load`` (shared with concurrent callers of the same key)."""
        try:
            return self._values[key]
        except KeyError:
            pass
        pending = self._loading.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._loading[key] = future
        try:
            value = await load()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters, if any, re-raise it themselves
            raise
        else:
            future.set_result(value)
            self._values[key] = value
            return value
        finally:
            del self._loading[key]

    def peek(self, key: K) -> V | None:
        """The cached value without loading, or None."""
        return self._values.get(key)

    def pop(self, key: K) -> None:
        """Forget one key."""
        self._values.pop(key, None)

    def items(self) -> list[tuple[K, V]]:
        """A snapshot of the cached entries."""
        return list(self._values.items())

    def clear(self) -> None:
        """Forget everything."""
        self._values.clear()
