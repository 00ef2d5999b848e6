"""Rate limiting, in memory or in a shared Redis, with fixed windows and 429 + Retry-After: requests per API key,
and failed authentications per client address (so guessing keys costs no database lookup beyond the limit)."""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse_many
from limits.aio.storage import Storage
from limits.aio.strategies import FixedWindowRateLimiter
from limits.storage import storage_from_string

from cloudfaster.core.errors import RateLimitedError
from cloudfaster.settings import RateLimitSettings

MAX_KNOWN_KEYS = 10_000


class KeyRateLimiter:
    """Counts requests per API key prefix, and failed authentications per client address."""

    def __init__(self, settings: RateLimitSettings) -> None:
        self.enabled = settings.enabled
        self.limits: list[RateLimitItem] = parse_many(settings.per_key)
        self.failure_limits: list[RateLimitItem] = parse_many(settings.auth_failures_per_address)
        storage = storage_from_string(settings.storage_url.get_secret_value())
        if not isinstance(storage, Storage):
            raise ValueError("rate_limit.storage_url must name an async storage (async+memory://, async+redis://…)")
        self.storage = storage
        self.strategy = FixedWindowRateLimiter(self.storage)
        # Each limit's storage key of each API key: building one (RateLimitItem.key_for) costs more than the count.
        self._counters: dict[str, list[tuple[RateLimitItem, str, int]]] = {}

    async def hit(self, key_prefix: str) -> None:
        """Count one request; raise 429 (with Retry-After) when a limit is used up."""
        if not self.enabled:
            return
        counters = self._counters.get(key_prefix)
        if counters is None:
            if len(self._counters) >= MAX_KNOWN_KEYS:
                self._counters.clear()
            counters = [(item, item.key_for("key", key_prefix), item.get_expiry()) for item in self.limits]
            self._counters[key_prefix] = counters
        for item, counter, expiry in counters:
            # What FixedWindowRateLimiter.hit does, with the key built once.
            if await self.storage.incr(counter, expiry) > item.amount:
                raise await self._refusal(item, "key", key_prefix, "for this API key")

    async def refuse_if_failing(self, address: str) -> None:
        """429 when ``address`` has used up its failed authentications (checked without counting)."""
        if not self.enabled:
            return
        for item in self.failure_limits:
            if not await self.strategy.test(item, "auth-failure", address):
                raise await self._refusal(item, "auth-failure", address, "of failed authentications from your address")

    async def failed(self, address: str) -> None:
        """Count one failed authentication from ``address``."""
        if self.enabled:
            for item in self.failure_limits:
                await self.strategy.hit(item, "auth-failure", address)

    async def _refusal(self, item: RateLimitItem, scope: str, identity: str, what: str) -> RateLimitedError:
        stats = await self.strategy.get_window_stats(item, scope, identity)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        return RateLimitedError(
            f"rate limit of {item} exceeded {what}",
            details={"limit": str(item), "retry_after_s": retry_after},
            headers={"Retry-After": str(retry_after)},
        )
