"""Per-key rate limiting, in memory or in a shared Redis: a fixed window per key, 429 with Retry-After."""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse_many
from limits.aio.storage import Storage
from limits.aio.strategies import FixedWindowRateLimiter
from limits.storage import storage_from_string

from cloudfaster.core.errors import RateLimitedError
from cloudfaster.settings import RateLimitSettings


class KeyRateLimiter:
    """Counts requests per API key prefix against every configured limit."""

    def __init__(self, settings: RateLimitSettings) -> None:
        self.enabled = settings.enabled
        self.limits: list[RateLimitItem] = parse_many(settings.per_key)
        storage = storage_from_string(settings.storage_url.get_secret_value())
        if not isinstance(storage, Storage):
            raise ValueError("rate_limit.storage_url must name an async storage (async+memory://, async+redis://…)")
        self.storage = storage
        self.strategy = FixedWindowRateLimiter(self.storage)

    async def hit(self, key_prefix: str) -> None:
        """Count one request; raise 429 (with Retry-After) when a limit is used up."""
        if not self.enabled:
            return
        for item in self.limits:
            if not await self.strategy.hit(item, "key", key_prefix):
                stats = await self.strategy.get_window_stats(item, "key", key_prefix)
                retry_after = max(1, math.ceil(stats.reset_time - time.time()))
                raise RateLimitedError(
                    f"rate limit of {item} exceeded for this API key",
                    details={"limit": str(item), "retry_after_s": retry_after},
                    headers={"Retry-After": str(retry_after)},
                )
