"""The composition root: builds one CloudFaster instance (database, logging, runner, broker, both features) and
runs its start-up and shutdown. ``serve`` mounts the HTTP layer on it; ``worker`` runs it as it is."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import stat
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from cloudfaster import __version__
from cloudfaster.apps.feature import AppFeature
from cloudfaster.core.bootstrap import ensure_admin_key
from cloudfaster.core.cascade import DeleteUser
from cloudfaster.core.feature import Feature
from cloudfaster.core.keys import Authenticator
from cloudfaster.core.metrics import Metrics
from cloudfaster.core.runner import dispatch
from cloudfaster.core.runner.kinds import OperationKind
from cloudfaster.core.runner.runner import OperationRunner
from cloudfaster.db.engine import Database
from cloudfaster.db.migrate import upgrade_to_head
from cloudfaster.logs.banner import banner
from cloudfaster.logs.setup import configure_logging
from cloudfaster.logs.stream import LogHub
from cloudfaster.settings import Settings
from cloudfaster.vms.feature import VmFeature

log = logging.getLogger("cloudfaster")

ReadinessProbe = Callable[[], Awaitable[dict[str, Any]]]


def show_generated_key(token: str) -> None:
    """Print a generated admin key once, where an operator will see it."""
    banner(
        f"[bold]{token}[/bold]\n\nUse it as the X-API-Key header. It is stored hashed and will not be shown again.",
        title="CloudFaster: new admin API key",
    )


def prepare_data_dir(settings: Settings) -> list[str]:
    """Create the data directory 0700 and a SQLite database file 0600 when they are missing; warnings about an
    existing data directory that other local users can read (it holds the database, logs and service files)."""
    data_dir = settings.data_dir
    warnings: list[str] = []
    if data_dir.exists():
        mode = stat.S_IMODE(data_dir.stat().st_mode)
        if mode & 0o077:
            warnings.append(
                f"the data directory {data_dir.resolve()} is open to other local users (mode {mode:04o}); "
                f"restrict it with: chmod 700 {data_dir.resolve()}"
            )
    else:
        data_dir.mkdir(parents=True, mode=0o700)
    url = make_url(settings.effective_database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        database = Path(url.database)
        database.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # SQLite gives its -wal and -shm files the mode of the database file (sqlite.org/src os_unix.c
        # findCreateFileMode), so creating the file 0600 first keeps all three private.
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT, 0o600))
        mode = stat.S_IMODE(database.stat().st_mode)
        if mode & 0o077:
            warnings.append(f"the database {database} is open to other local users (mode {mode:04o}): chmod 600 it")
    return warnings


@dataclass
class Instance:
    """The wired-up parts of one CloudFaster process."""

    settings: Settings
    db: Database
    hub: LogHub
    metrics: Metrics
    runner: OperationRunner
    broker: dispatch.Broker
    authenticator: Authenticator
    vms: VmFeature
    apps: AppFeature
    user_deletion: DeleteUser
    run_worker: bool = True
    started_at: float = field(default_factory=time.time)
    _receiving: asyncio.Task[None] | None = field(default=None, init=False, repr=False)
    _stop_receiving: asyncio.Event = field(default_factory=asyncio.Event, init=False, repr=False)

    @property
    def features(self) -> tuple[Feature, ...]:
        """The features, in start-up order."""
        return (self.vms, self.apps)

    @property
    def probes(self) -> dict[str, ReadinessProbe]:
        """Each feature's readiness probe by name, and the reverse proxy's."""
        return {**{feature.name: feature.probe for feature in self.features}, "proxy": self.apps.proxy_probe}

    async def start(self) -> None:
        """Migrate, make sure an admin key exists, start the features, then take operations if this is a worker."""
        settings = self.settings
        await upgrade_to_head(self.db)
        given = settings.admin_api_key.get_secret_value() if settings.admin_api_key else None
        token = await ensure_admin_key(self.db, given)
        if token:
            show_generated_key(token)
        for feature in self.features:
            await feature.start(run_worker=self.run_worker)
        self.broker.is_worker_process = self.run_worker
        await self.broker.startup()
        if self.run_worker:
            if not dispatch.is_local(self.broker):
                self._stop_receiving.clear()
                self._receiving = asyncio.create_task(
                    dispatch.receive_forever(self.broker, settings.worker, self._stop_receiving)
                )
            self.runner.start_sweeper()
        # Start-up objects (routes, models, schemas) live for the whole process: keep them out of every
        # later garbage collection, whose full passes otherwise stall requests for tens of milliseconds.
        gc.freeze()
        role = "API and worker" if self.run_worker else "API only"
        log.info(
            "CloudFaster %s ready (%s; database: %s; broker: %s)",
            __version__,
            role,
            self.db.url.render_as_string(hide_password=True),
            settings.worker.broker,
        )

    async def stop(self) -> None:
        """Stop receiving, hand back unfinished operations, stop the features and close the database."""
        self._stop_receiving.set()
        await self.runner.shutdown(grace_s=self.settings.worker.shutdown_grace_s)
        if self._receiving is not None:
            try:
                await asyncio.wait_for(self._receiving, timeout=5)
            except TimeoutError:
                log.warning("the broker receiver did not stop in time")
            self._receiving = None
        await self.broker.shutdown()
        for feature in reversed(self.features):
            await feature.stop()
        await self.db.dispose()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Instance]:
        """Started on entry, stopped on exit."""
        await self.start()
        try:
            yield self
        finally:
            await self.stop()


def build_instance(
    settings: Settings,
    *,
    run_worker: bool = True,
    kinds: Iterable[OperationKind[Any]] = (),
    configure_logs: bool = True,
) -> Instance:
    """Wire a CloudFaster instance; ``run_worker`` makes it run operations, ``kinds`` adds operation kinds."""
    if not run_worker and settings.worker.broker == "memory":
        raise ValueError("an API-only process needs a shared broker: set CLOUDFASTER_WORKER__BROKER")
    warnings = prepare_data_dir(settings)
    db = Database(settings.effective_database_url)
    hub = (
        configure_logging(settings.logging, settings.log_dir)
        if configure_logs
        else LogHub(settings.logging.stream_queue_size)
    )
    for warning in warnings:
        log.warning("%s", warning)
    runner = OperationRunner(db, settings.worker, {})
    broker = dispatch.make_broker(settings.worker)
    dispatch.bind(broker, runner)
    vms = VmFeature(settings, db, runner)
    apps = AppFeature(settings, db, runner)
    authenticator = Authenticator(db)
    delete_user = DeleteUser(db, (vms, apps))
    delete_user.on_deleted.append(lambda _: authenticator.forget_all())
    for kind in [*vms.kinds(), *apps.kinds(), delete_user, *kinds]:
        runner.kinds[kind.name] = kind
    return Instance(
        settings=settings,
        db=db,
        hub=hub,
        metrics=Metrics(),
        runner=runner,
        broker=broker,
        authenticator=authenticator,
        vms=vms,
        apps=apps,
        user_deletion=delete_user,
        run_worker=run_worker,
    )
