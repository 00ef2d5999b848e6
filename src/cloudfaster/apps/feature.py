"""The Docker half as the composition root sees it: its runtime, kinds, readiness probe and reconcile loop."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from cloudfaster.apps.builder import ComposeBuilder
from cloudfaster.apps.feature_support import docker_probe, remove_stale_staging
from cloudfaster.apps.kinds import all_kinds
from cloudfaster.apps.reconcile import reconcile_services
from cloudfaster.apps.runtime import ServiceRuntime
from cloudfaster.compose.client import ComposeClient
from cloudfaster.core.loops import PeriodicTask
from cloudfaster.core.runner.kinds import OperationKind
from cloudfaster.core.runner.runner import OperationRunner
from cloudfaster.db.engine import Database
from cloudfaster.settings import Settings

log = logging.getLogger("cloudfaster.apps")


class AppFeature:
    """Docker Compose services from templates, with a Filebrowser sidecar each."""

    name = "docker"

    def __init__(self, settings: Settings, db: Database, runner: OperationRunner) -> None:
        docker = settings.docker
        self.runtime = ServiceRuntime(
            settings=settings,
            db=db,
            compose=ComposeClient(docker),
            builder=ComposeBuilder(docker),
            runner=runner,
        )
        # Jitter, so that several workers do not reconcile in step.
        self._reconcile = PeriodicTask("service reconcile", self._reconcile_pass, docker.reconcile_interval_s, jitter=0.2)

    def kinds(self) -> Iterable[OperationKind[Any]]:
        """Create, deploy, power and delete."""
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

    async def _reconcile_pass(self) -> None:
        drift = await reconcile_services(self.runtime, self.runtime.settings.docker.reconcile_action)
        if drift.missing or drift.degraded or drift.repaired or drift.back:
            log.info("service reconcile: %s", drift)
