"""The Docker half as the composition root sees it: its runtime, kinds, readiness probes and reconcile loops."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import partial
from typing import Any

from cloudfaster.apps import service
from cloudfaster.apps.intake import remove_stale_staging
from cloudfaster.apps.kinds import all_kinds
from cloudfaster.apps.proxy_setup import ProxySandbox, configured_proxy, proxy_sandbox_wanted
from cloudfaster.apps.reconcile import reconcile
from cloudfaster.apps.routing import Routing
from cloudfaster.apps.runtime import build_runtime, docker_probe
from cloudfaster.core.cascade import CASCADE
from cloudfaster.core.loops import PeriodicTask
from cloudfaster.core.runner.kinds import OperationKind
from cloudfaster.core.runner.runner import OperationRunner
from cloudfaster.db.engine import Database
from cloudfaster.proxy.errors import ProxyError
from cloudfaster.settings import Settings

log = logging.getLogger("cloudfaster.apps")


class AppFeature:
    """Docker Compose services from templates, with a Filebrowser sidecar each, routed through the proxy."""

    name = "docker"

    def __init__(self, settings: Settings, db: Database, runner: OperationRunner) -> None:
        docker, proxy = settings.docker, settings.proxy
        self.runtime = build_runtime(settings, db, runner)
        if proxy.admin_url is not None:
            self.runtime.routing = Routing(configured_proxy(settings), db)
        self._sandbox = ProxySandbox(settings)
        # Jitter, so that several workers do not reconcile in step.
        self._reconcile = PeriodicTask(
            "service reconcile",
            partial(reconcile, self.runtime, docker.reconcile_action),
            docker.reconcile_interval_s,
            jitter=0.2,
        )
        self._routes = PeriodicTask(
            "route reconcile", self._reconcile_routes, proxy.reconcile_interval_s, jitter=0.1, run_first=True
        )
        self._domains = PeriodicTask("custom domain check", self._check_domains, proxy.domain_check_interval_s)

    @property
    def routing(self) -> Routing | None:
        """The routes through the proxy, when routing is on."""
        return self.runtime.routing

    def kinds(self) -> Iterable[OperationKind[Any]]:
        """Create, action, deploy and delete."""
        return all_kinds(self.runtime)

    async def delete_owned(self, userid: str) -> list[str]:
        """Start deleting the user's services; the operations to wait for (``core.cascade``)."""
        return await service.delete_owned(self.runtime, CASCADE, userid)

    async def probe(self) -> dict[str, Any]:
        """Whether `docker compose` reaches the Docker Engine."""
        return await docker_probe(self.runtime)

    async def proxy_probe(self) -> dict[str, Any]:
        """Whether the reverse proxy's admin API answers (``enabled`` false when routing is off)."""
        if self.routing is None:
            return {"ok": False, "enabled": False, "error": "no reverse proxy is configured"}
        return {"enabled": True, **await self.routing.probe()}

    async def start(self, *, run_worker: bool) -> None:
        """Make the services directory, clear stale staging, start the sandbox's Caddy if wanted, and reconcile
        services and routes where operations run."""
        settings = self.runtime.settings
        settings.services_path.mkdir(parents=True, exist_ok=True)
        await remove_stale_staging(self.runtime)
        if self.routing is None and proxy_sandbox_wanted(settings):
            config = await self._sandbox.start()
            if config is not None:
                self.runtime.routing = Routing(config, self.runtime.db)
        if run_worker:
            self._reconcile.start()
            if self.routing is not None:
                self._routes.start()
                self._domains.start()

    async def stop(self) -> None:
        """Stop reconciling, close the proxy client and stop the sandbox's Caddy."""
        await self._domains.stop()
        await self._routes.stop()
        await self._reconcile.stop()
        if self.routing is not None:
            await self.routing.aclose()
        await self._sandbox.stop()

    async def _reconcile_routes(self) -> None:
        if self.routing is None:
            return
        try:
            drift = await self.routing.reconcile()
        except ProxyError as exc:  # Caddy down: nothing to conclude this time
            log.warning("route reconcile skipped: %s", exc)
            return
        if drift.changed:
            log.info("route reconcile: %s", drift)

    async def _check_domains(self) -> None:
        if self.routing is not None:
            for hostname in await self.routing.check_domains():
                log.info("custom domain %s resolves to the proxy: its route is live", hostname)
