"""A TTL cache for async loaders in which concurrent misses of one key share a single load."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SingleFlightCache(Generic[K, V]):
    """Values expire after ``ttl_s``; when a hot key expires, one caller reloads it and the others wait for it,
    instead of all of them queueing on the database at once.

    Forgetting anything starts a new generation: a load that began before it may still answer the callers that
    were already waiting, but its value is not stored, and later callers do not join it. So a revocation that
    lands while a lookup is in flight cannot be undone by that lookup.

    Entries sit in a plain dict with their deadline (a hit is one lookup and one clock read; cachetools' TTLCache
    took 3 us): when it is full, the expired entries go, then the oldest stored if need be.
    """

    def __init__(self, ttl_s: float, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl_s = ttl_s
        self._clock = clock
        self._max_entries = max_entries
        self._values: dict[K, tuple[float, V]] = {}
        self._loading: dict[K, tuple[int, asyncio.Future[V]]] = {}
        self._generation = 0

    async def get(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        """The cached value, or the result of ``load`` (shared with concurrent callers of the same key)."""
        entry = self._values.get(key)
        if entry is not None and entry[0] > self._clock():
            return entry[1]
        generation = self._generation
        pending = self._loading.get(key)
        if pending is not None and pending[0] == generation:
            return await asyncio.shield(pending[1])
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._loading[key] = (generation, future)
        try:
            value = await load()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters, if any, re-raise it themselves
            raise
        else:
            future.set_result(value)
            if generation == self._generation:
                self._store(key, value)
            return value
        finally:
            if self._loading.get(key, (generation, None))[1] is future:
                del self._loading[key]

    def peek(self, key: K) -> V | None:
        """The cached value without loading, or None."""
        entry = self._values.get(key)
        return entry[1] if entry is not None and entry[0] > self._clock() else None

    def _store(self, key: K, value: V) -> None:
        now = self._clock()
        self._values.pop(key, None)  # stored again: the newest
        if len(self._values) >= self._max_entries:
            self._values = {k: entry for k, entry in self._values.items() if entry[0] > now}
            # Still full of live entries: the oldest tenth goes, so the next stores do not scan again.
            while len(self._values) >= self._max_entries * 0.9:
                del self._values[next(iter(self._values))]
        self._values[key] = (now + self._ttl_s, value)

    def pop(self, key: K) -> None:
        """Forget one key (and what loads in flight would store)."""
        self._generation += 1
        self._values.pop(key, None)

    def pop_where(self, forget: Callable[[V], bool]) -> None:
        """Forget every entry whose value ``forget`` picks (and what loads in flight would store)."""
        self._generation += 1
        for key, (_, value) in list(self._values.items()):
            if forget(value):
                self._values.pop(key, None)

    def items(self) -> list[tuple[K, V]]:
        """A snapshot of the cached entries."""
        now = self._clock()
        return [(key, value) for key, (deadline, value) in list(self._values.items()) if deadline > now]

    def clear(self) -> None:
        """Forget everything."""
        self._generation += 1
        self._values.clear()
