"""Rate limiting, in memory or in a shared Redis, with fixed windows and 429 + Retry-After: requests per API key,
and failed authentications per client address (so guessing keys costs no database lookup beyond the limit)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple, Protocol

from cloudfaster.core.errors import RateLimitedError
from cloudfaster.rate_notation import RateRule, parse_rules
from cloudfaster.settings import RateLimitSettings

if TYPE_CHECKING:
    from limits import RateLimitItem
    from limits.aio.storage import Storage

MAX_KNOWN_KEYS = 10_000
# MemoryWindows drops the identities whose windows have all ended once it holds this many, then at twice as many
# as were left: memory follows the identities seen within a window, at no cost per hit.
SWEEP_FLOOR = 1024


class Refusal(NamedTuple):
    """The rule a hit went over, and the seconds until its window ends."""

    rule: RateRule
    seconds_left: float


class Windows(Protocol):
    """Fixed windows of some rules, counted per identity."""

    async def hit(self, identity: str, *, every: bool = False) -> Refusal | None:
        """Count one hit in each rule's window (up to the first one it goes over, or in all with ``every``); the
        first rule gone over, if any."""

    async def test(self, identity: str) -> Refusal | None:
        """The first rule one more hit would go over, without counting it."""


class _Window:
    __slots__ = ("count", "ends_at")

    def __init__(self) -> None:
        self.ends_at = 0.0
        self.count = 0


class MemoryWindows:
    """Windows counted in this process. A window opens with its first hit and lasts its rule's length, as the
    limits library's memory storage counts. Hits come from the event loop and never wait, so they need no lock."""

    def __init__(self, rules: list[RateRule], clock: Callable[[], float] = time.monotonic) -> None:
        self.rules = rules
        self._clock = clock
        self._windows: dict[str, tuple[_Window, ...]] = {}
        self._sweep_at = SWEEP_FLOOR

    def __len__(self) -> int:
        """How many identities have windows held in memory."""
        return len(self._windows)

    async def hit(self, identity: str, *, every: bool = False) -> Refusal | None:
        """Count one hit in each rule's window (up to the first one it goes over, or in all with ``every``); the
        first rule gone over, if any."""
        return self.count(identity, every=every)

    def count(self, identity: str, *, every: bool = False) -> Refusal | None:
        """``hit`` without a coroutine, for the hot path."""
        now = self._clock()
        windows = self._windows.get(identity)
        if windows is None:
            windows = self._open(identity)
        refusal = None
        for rule, window in zip(self.rules, windows, strict=True):
            if window.ends_at <= now:
                window.ends_at = now + rule.seconds
                window.count = 0
            window.count += 1
            if window.count > rule.amount and refusal is None:
                refusal = Refusal(rule, window.ends_at - now)
                if not every:
                    break
        return refusal

    async def test(self, identity: str) -> Refusal | None:
        """The first rule one more hit would go over, without counting it."""
        windows = self._windows.get(identity)
        if windows is not None:
            now = self._clock()
            for rule, window in zip(self.rules, windows, strict=True):
                if window.ends_at > now and window.count >= rule.amount:
                    return Refusal(rule, window.ends_at - now)
        return None

    def _open(self, identity: str) -> tuple[_Window, ...]:
        if len(self._windows) >= self._sweep_at:
            now = self._clock()
            self._windows = {
                key: windows
                for key, windows in self._windows.items()
                if any(window.ends_at > now for window in windows)
            }
            self._sweep_at = max(SWEEP_FLOOR, 2 * len(self._windows))
        windows = tuple(_Window() for _ in self.rules)
        self._windows[identity] = windows
        return windows


class SharedWindows:
    """Windows kept in a storage of the limits library (Redis), so they hold across API replicas."""

    def __init__(self, rules: list[RateRule], scope: str, storage: Storage) -> None:
        from limits import parse

        self.rules = rules
        self._scope = scope
        self._items: list[RateLimitItem] = [parse(str(rule)) for rule in rules]
        self._storage = storage
        # Each rule's storage key of each identity: building one (RateLimitItem.key_for) costs more than the count.
        self._keys: dict[str, list[str]] = {}

    async def hit(self, identity: str, *, every: bool = False) -> Refusal | None:
        """Count one hit in each rule's window (up to the first one it goes over, or in all with ``every``); the
        first rule gone over, if any."""
        refusal = None
        for rule, item, key in zip(self.rules, self._items, self._keys_of(identity), strict=True):
            # What FixedWindowRateLimiter.hit does, with the key built once.
            if await self._storage.incr(key, item.get_expiry()) > item.amount and refusal is None:
                refusal = Refusal(rule, await self._storage.get_expiry(key) - time.time())
                if not every:
                    break
        return refusal

    async def test(self, identity: str) -> Refusal | None:
        """The first rule one more hit would go over, without counting it."""
        for rule, item, key in zip(self.rules, self._items, self._keys_of(identity), strict=True):
            if await self._storage.get(key) >= item.amount:
                return Refusal(rule, await self._storage.get_expiry(key) - time.time())
        return None

    def _keys_of(self, identity: str) -> list[str]:
        keys = self._keys.get(identity)
        if keys is None:
            if len(self._keys) >= MAX_KNOWN_KEYS:
                self._keys.clear()
            keys = [item.key_for(self._scope, identity) for item in self._items]
            self._keys[identity] = keys
        return keys


def _shared_storage(url: str) -> Storage:
    from limits.aio.storage import Storage
    from limits.storage import storage_from_string

    # limits talks to Redis through coredis unless told otherwise; redis-py is the client CloudFaster installs.
    options = {"implementation": "redispy"} if url.startswith(("async+redis:", "async+rediss:", "async+redis+")) else {}
    storage = storage_from_string(url, **options)
    if not isinstance(storage, Storage):
        raise ValueError("rate_limit.storage_url must name an async storage (async+memory://, async+redis://…)")
    return storage


class KeyRateLimiter:
    """Counts requests per API key prefix, and failed authentications per client address."""

    def __init__(self, settings: RateLimitSettings) -> None:
        self.enabled = settings.enabled
        per_key, failures = parse_rules(settings.per_key), parse_rules(settings.auth_failures_per_address)
        url = settings.storage_url.get_secret_value()
        self.per_key: Windows
        self.failures: Windows
        self._local_per_key: MemoryWindows | None = None
        if url.partition("://")[0] == "async+memory":
            self._local_per_key = MemoryWindows(per_key)
            self.per_key, self.failures = self._local_per_key, MemoryWindows(failures)
        else:
            storage = _shared_storage(url)
            self.per_key = SharedWindows(per_key, "key", storage)
            self.failures = SharedWindows(failures, "auth-failure", storage)

    async def hit(self, key_prefix: str) -> None:
        """Count one request; raise 429 (with Retry-After) when a limit is used up."""
        if not self.enabled:
            return
        local = self._local_per_key
        refusal = local.count(key_prefix) if local is not None else await self.per_key.hit(key_prefix)
        if refusal is not None:
            raise _refused(refusal, "for this API key")

    async def refuse_if_failing(self, address: str) -> None:
        """429 when ``address`` has used up its failed authentications (checked without counting)."""
        if self.enabled and (refusal := await self.failures.test(address)) is not None:
            raise _refused(refusal, "of failed authentications from your address")

    async def failed(self, address: str) -> None:
        """Count one failed authentication from ``address``."""
        if self.enabled:
            await self.failures.hit(address, every=True)


def _refused(refusal: Refusal, what: str) -> RateLimitedError:
    retry_after = max(1, math.ceil(refusal.seconds_left))
    return RateLimitedError(
        f"rate limit of {refusal.rule} exceeded {what}",
        details={"limit": str(refusal.rule), "retry_after_s": retry_after},
        headers={"Retry-After": str(retry_after)},
    )
