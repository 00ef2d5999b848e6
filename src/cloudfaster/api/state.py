"""What the routes need: the instance they are mounted on and the HTTP layer's own parts."""

from __future__ import annotations

from dataclasses import dataclass

from cloudfaster.api.ratelimit import KeyRateLimiter
from cloudfaster.core.keys import Authenticator
from cloudfaster.core.metrics import Metrics
from cloudfaster.core.runner.runner import OperationRunner
from cloudfaster.core.sessions import SessionStore
from cloudfaster.core.users import UserDirectory
from cloudfaster.db.engine import Database
from cloudfaster.instance import Instance, ReadinessProbe
from cloudfaster.logs.stream import LogHub
from cloudfaster.settings import Settings


@dataclass
class AppState:
    """The instance, plus the rate limiter, the rendered user cards and the dashboard's sessions, which only HTTP
    needs."""

    instance: Instance
    rate_limiter: KeyRateLimiter
    users: UserDirectory
    sessions: SessionStore

    @property
    def settings(self) -> Settings:
        """The instance's settings."""
        return self.instance.settings

    @property
    def db(self) -> Database:
        """The instance's database."""
        return self.instance.db

    @property
    def runner(self) -> OperationRunner:
        """The instance's operation runner (it dispatches to workers in an API-only process)."""
        return self.instance.runner

    @property
    def authenticator(self) -> Authenticator:
        """API key checks."""
        return self.instance.authenticator

    @property
    def hub(self) -> LogHub:
        """The live log records."""
        return self.instance.hub

    @property
    def metrics(self) -> Metrics:
        """The Prometheus metric families."""
        return self.instance.metrics

    @property
    def probes(self) -> dict[str, ReadinessProbe]:
        """Readiness probes by name."""
        return self.instance.probes

    @property
    def run_worker(self) -> bool:
        """Whether this process runs operations."""
        return self.instance.run_worker

    @property
    def started_at(self) -> float:
        """When the instance was built (epoch seconds)."""
        return self.instance.started_at
