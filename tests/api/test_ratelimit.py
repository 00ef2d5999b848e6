"""The rate limiter's windows, in memory (a clock of the test's) and in Redis, and the limits notation it reads."""

from __future__ import annotations

import socket
import uuid

import pytest
from limits import parse_many

from cloudfaster.api.ratelimit import SWEEP_FLOOR, KeyRateLimiter, MemoryWindows
from cloudfaster.core.errors import RateLimitedError
from cloudfaster.rate_notation import parse_rules
from cloudfaster.settings import RateLimitSettings

REDIS_URL = "async+redis://127.0.0.1:6379/0"


class Clock:
    """Time that moves when the test says."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    "text",
    [
        "100/second",
        "5 per minute",
        "10/2 hours",
        "3 per 5 days;100/second",
        "1/month, 2/year | 7/0 minutes",
        "4 PER 1 DAYS",
    ],
)
def test_the_notation_is_read_as_the_limits_library_reads_it(text: str) -> None:
    ours = [(rule.amount, rule.seconds, str(rule)) for rule in parse_rules(text)]
    theirs = [(item.amount, item.get_expiry(), str(item)) for item in parse_many(text)]
    assert ours == theirs


@pytest.mark.parametrize("text", ["", "100", "100/fortnight", "a/second", "5/minute;", "-1/second", "5/seconds/x"])
def test_what_the_limits_library_refuses_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"rate limit|granularity"):
        parse_many(text)
    with pytest.raises(ValueError, match=r"rate limit|granularity"):
        parse_rules(text)


async def test_a_window_allows_its_amount_then_refuses_until_it_ends() -> None:
    clock = Clock()
    windows = MemoryWindows(parse_rules("3/minute"), clock=clock)
    assert [await windows.hit("a") for _ in range(3)] == [None] * 3
    clock.now += 20
    refusal = await windows.hit("a")
    assert refusal is not None
    assert (str(refusal.rule), refusal.seconds_left) == ("3 per 1 minute", 40)
    assert await windows.hit("b") is None  # every identity has its own window
    clock.now += 40  # the window opened by the first hit has ended
    assert [await windows.hit("a") for _ in range(3)] == [None] * 3
    assert await windows.hit("a") is not None


async def test_test_tells_whether_the_next_hit_would_be_refused_without_counting() -> None:
    clock = Clock()
    windows = MemoryWindows(parse_rules("2/minute"), clock=clock)
    assert await windows.test("a") is None
    await windows.hit("a")
    assert await windows.test("a") is None
    await windows.hit("a")
    assert [await windows.test("a") is not None for _ in range(5)] == [True] * 5
    clock.now += 60
    assert await windows.test("a") is None


async def test_a_hit_over_the_first_rule_is_not_counted_in_the_next_unless_every_rule_counts() -> None:
    clock = Clock()
    windows = MemoryWindows(parse_rules("1/second;3/minute"), clock=clock)
    assert await windows.hit("a") is None
    refusal = await windows.hit("a")  # over 1/second: the minute's window stays at 1
    assert refusal is not None
    assert str(refusal.rule) == "1 per 1 second"
    clock.now += 1
    assert await windows.hit("a") is None
    clock.now += 1
    assert await windows.hit("a") is None
    clock.now += 1
    refusal = await windows.hit("a")
    assert refusal is not None
    assert str(refusal.rule) == "3 per 1 minute"
    counted = MemoryWindows(parse_rules("1/second;3/minute"), clock=clock)
    assert [await counted.hit("b", every=True) is None for _ in range(3)] == [True, False, False]
    clock.now += 1
    refusal = await counted.hit("b", every=True)  # the two refused hits counted in the minute's window
    assert refusal is not None
    assert str(refusal.rule) == "3 per 1 minute"


async def test_ended_windows_are_dropped_and_open_ones_kept() -> None:
    clock = Clock()
    windows = MemoryWindows(parse_rules("1/minute"), clock=clock)
    for n in range(SWEEP_FLOOR - 1):
        await windows.hit(f"passing-{n}")
    clock.now += 30
    await windows.hit("staying")
    clock.now += 31  # the passing windows have ended, the staying one has not
    await windows.hit("new")
    assert len(windows) == 2
    assert await windows.hit("staying") is not None  # its count survived


async def test_the_limiter_answers_429_with_the_rule_and_retry_after() -> None:
    limiter = KeyRateLimiter(RateLimitSettings(per_key="2/minute", auth_failures_per_address="1/hour"))
    await limiter.hit("key1")
    await limiter.hit("key1")
    with pytest.raises(RateLimitedError) as refused:
        await limiter.hit("key1")
    assert refused.value.details == {"limit": "2 per 1 minute", "retry_after_s": 60}
    assert refused.value.headers == {"Retry-After": "60"}
    await limiter.refuse_if_failing("10.0.0.1")
    await limiter.failed("10.0.0.1")
    with pytest.raises(RateLimitedError, match="failed authentications"):
        await limiter.refuse_if_failing("10.0.0.1")


def _redis_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _redis_up(), reason="needs Redis on 127.0.0.1:6379 (the test rig)")
async def test_limits_in_redis_are_shared_by_every_limiter_on_it() -> None:
    settings = RateLimitSettings(per_key="3/minute", auth_failures_per_address="2/hour", storage_url=REDIS_URL)
    replicas = [KeyRateLimiter(settings), KeyRateLimiter(settings)]
    key, address = uuid.uuid4().hex, f"test-{uuid.uuid4().hex}"
    await replicas[0].hit(key)
    await replicas[1].hit(key)
    await replicas[0].hit(key)
    with pytest.raises(RateLimitedError) as refused:
        await replicas[1].hit(key)
    assert 1 <= int(refused.value.headers["Retry-After"]) <= 60
    await replicas[0].failed(address)
    await replicas[1].refuse_if_failing(address)
    await replicas[1].failed(address)
    with pytest.raises(RateLimitedError, match="failed authentications"):
        await replicas[0].refuse_if_failing(address)
