"""The Docker half as the composition root sees it: its runtime, kinds, readiness probe and reconcile loop."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import Any

from cloudfaster.apps.intake import remove_stale_staging
from cloudfaster.apps.kinds import all_kinds
from cloudfaster.apps.reconcile import reconcile
from cloudfaster.apps.runtime import build_runtime, docker_probe
from cloudfaster.core.loops import PeriodicTask
from cloudfaster.core.runner.kinds import OperationKind
from cloudfaster.core.runner.runner import OperationRunner
from cloudfaster.db.engine import Database
from cloudfaster.settings import Settings


class AppFeature:
    """Docker Compose services from templates, with a Filebrowser sidecar each."""

    name = "docker"

    def __init__(self, settings: Settings, db: Database, runner: OperationRunner) -> None:
        docker = settings.docker
        self.runtime = build_runtime(settings, db, runner)
        # Jitter, so that several workers do not reconcile in step.
        self._reconcile = PeriodicTask(
            "service reconcile",
            partial(reconcile, self.runtime, docker.reconcile_action),
            docker.reconcile_interval_s,
            jitter=0.2,
        )

    def kinds(self) -> Iterable[OperationKind[Any]]:
        """Create, action, deploy and delete."""
        return all_kinds(self.runtime)

    async def probe(self) -> dict[str, Any]:
        """Whether `docker compose` reaches the Docker Engine."""
        return await docker_probe(self.runtime)

    async def start(self, *, run_worker: bool) -> None:
        """Make the services directory, clear stale staging, and reconcile where operations run."""
        self.runtime.settings.services_path.mkdir(parents=True, exist_ok=True)
        await remove_stale_staging(self.runtime)
        if run_worker:
            self._reconcile.start()

    async def stop(self) -> None:
        """Stop reconciling."""
        await self._reconcile.stop()
