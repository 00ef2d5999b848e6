"""Everything the routes need, built once by the app factory."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from taskiq import AsyncBroker

from cloudfaster.api.ratelimit import KeyRateLimiter
from cloudfaster.core.keys import Authenticator
from cloudfaster.core.metrics import Metrics
from cloudfaster.core.runner.runner import OperationRunner
from cloudfaster.core.users import UserDirectory
from cloudfaster.db.engine import Database
from cloudfaster.logs.stream import LogHub
from cloudfaster.settings import Settings

ReadinessProbe = Callable[[], Awaitable[dict[str, Any]]]
Hook = Callable[[], Awaitable[None]]


@dataclass
class AppState:
    """The wired-up parts of one CloudFaster instance."""

    settings: Settings
    db: Database
    authenticator: Authenticator
    runner: OperationRunner
    broker: AsyncBroker
    hub: LogHub
    metrics: Metrics
    users: UserDirectory
    rate_limiter: KeyRateLimiter
    run_worker: bool = True
    probes: dict[str, ReadinessProbe] = field(default_factory=dict)
    # Run by the lifespan after migrations (startup) and before the database closes (shutdown, reversed).
    on_startup: list[Hook] = field(default_factory=list)
    on_shutdown: list[Hook] = field(default_factory=list)
    started_at: float = field(default_factory=time.time)
