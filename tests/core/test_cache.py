"""The single-flight TTL cache behind key and user lookups."""

from __future__ import annotations

import asyncio

import pytest

from cloudfaster.core.cache import SingleFlightCache


async def test_concurrent_misses_share_one_load() -> None:
    cache: SingleFlightCache[str, int] = SingleFlightCache(ttl_s=60)
    loads = 0

    async def load() -> int:
        nonlocal loads
        loads += 1
        await asyncio.sleep(0.05)
        return 42

    results = await asyncio.gather(*(cache.get("k", load) for _ in range(20)))
    assert results == [42] * 20
    assert loads == 1
    assert await cache.get("k", load) == 42
    assert loads == 1


async def test_a_failed_load_reaches_every_waiter_and_is_not_cached() -> None:
    cache: SingleFlightCache[str, int] = SingleFlightCache(ttl_s=60)
    calls = 0

    async def failing() -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.02)
        raise LookupError("nope")

    outcomes = await asyncio.gather(*(cache.get("k", failing) for _ in range(5)), return_exceptions=True)
    assert all(isinstance(o, LookupError) for o in outcomes)
    assert calls == 1
    with pytest.raises(LookupError):
        await cache.get("k", failing)
    assert calls == 2


async def test_entries_expire_and_can_be_forgotten() -> None:
    cache: SingleFlightCache[str, int] = SingleFlightCache(ttl_s=0.05)
    counter = iter(range(100))

    async def load() -> int:
        return next(counter)

    assert await cache.get("k", load) == 0
    assert await cache.get("k", load) == 0
    await asyncio.sleep(0.08)
    assert await cache.get("k", load) == 1
    cache.pop("k")
    assert cache.peek("k") is None
    assert await cache.get("k", load) == 2


async def test_a_full_cache_drops_expired_entries_first_then_the_oldest() -> None:
    now = [0.0]
    cache: SingleFlightCache[int, int] = SingleFlightCache(ttl_s=10, max_entries=10, clock=lambda: now[0])

    async def put(value: int) -> None:
        async def load() -> int:
            return value

        assert await cache.get(value, load) == value

    for n in range(5):
        await put(n)
    now[0] = 5
    for n in range(5, 10):
        await put(n)
    now[0] = 11  # 0..4 have expired, 5..9 have not
    await put(10)
    assert sorted(key for key, _ in cache.items()) == list(range(5, 11))
    for n in range(11, 16):
        await put(n)
    # Full of live entries at 15: the oldest went (5 and 6, down to nine tenths), the newest stayed.
    assert sorted(key for key, _ in cache.items()) == list(range(7, 16))
    assert cache.peek(15) == 15
    assert cache.peek(5) is None
