"""The app factory: wires settings, database, runner, logging and routes into one FastAPI app."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from rich.console import Console
from rich.panel import Panel

from cloudfaster import __version__
from cloudfaster.api.errors import install_error_handlers
from cloudfaster.api.middleware import RequestContextMiddleware
from cloudfaster.api.openapi import install_api_key_docs
from cloudfaster.api.ratelimit import KeyRateLimiter
from cloudfaster.api.routes import audit, health, keys, logs, operations, users
from cloudfaster.api.schemas.core import UserRead
from cloudfaster.api.state import AppState
from cloudfaster.apps import reconcile
from cloudfaster.apps import wiring as service_wiring
from cloudfaster.core.bootstrap import ensure_admin_key
from cloudfaster.core.keys import Authenticator
from cloudfaster.core.metrics import Metrics
from cloudfaster.core.runner import dispatch
from cloudfaster.core.runner.kinds import OperationKind
from cloudfaster.core.runner.runner import OperationRunner
from cloudfaster.core.users import UserDirectory
from cloudfaster.db.engine import Database
from cloudfaster.db.migrate import upgrade_to_head
from cloudfaster.logs.setup import configure_logging
from cloudfaster.logs.stream import LogHub
from cloudfaster.settings import Settings
from cloudfaster.vms import wiring as vm_wiring

log = logging.getLogger("cloudfaster")

Extension = Callable[[FastAPI, AppState], None]
# Each feature adds its routes, operation kinds, readiness probes and lifespan hooks to the app.
FEATURES: list[Extension] = [vm_wiring.install, service_wiring.install, reconcile.install]


def show_generated_key(token: str) -> None:
    """Print a generated admin key once, where an operator will see it."""
    Console(stderr=True).print(
        Panel(
            f"[bold]{token}[/bold]\n\nUse it as the X-API-Key header. It is stored hashed and will not be shown again.",
            title="CloudFaster: new admin API key",
            border_style="yellow",
        )
    )


def create_app(
    settings: Settings,
    *,
    run_worker: bool = True,
    kinds: dict[str, OperationKind] | None = None,
    extensions: list[Extension] | None = None,
    configure_logs: bool = True,
) -> FastAPI:
    """Build a CloudFaster app; ``run_worker`` makes this process run operations too."""
    if not run_worker and settings.worker.broker == "memory":
        raise ValueError("an API-only process needs a shared broker: set CLOUDFASTER_WORKER__BROKER")
    db = Database(settings.effective_database_url)
    hub = (
        configure_logging(settings.logging, settings.log_dir)
        if configure_logs
        else LogHub(settings.logging.stream_queue_size)
    )
    runner = OperationRunner(db, settings.worker, dict(kinds or {}))
    broker = dispatch.make_broker(settings.worker)
    dispatch.bind(broker, runner)
    state = AppState(
        settings=settings,
        db=db,
        authenticator=Authenticator(db),
        runner=runner,
        broker=broker,
        hub=hub,
        metrics=Metrics(),
        rate_limiter=KeyRateLimiter(settings.rate_limit),
        users=UserDirectory(db, render=lambda user: UserRead.model_validate(user).model_dump_json().encode()),
        run_worker=run_worker,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await upgrade_to_head(db)
        token = await ensure_admin_key(
            db, settings.admin_api_key.get_secret_value() if settings.admin_api_key else None
        )
        if token:
            show_generated_key(token)
        for hook in state.on_startup:
            await hook()
        broker.is_worker_process = run_worker
        await broker.startup()
        stop_receiving = asyncio.Event()
        receiving: asyncio.Task[None] | None = None
        if run_worker:
            if not dispatch.is_local(broker):
                receiving = asyncio.create_task(dispatch.receive_forever(broker, settings.worker, stop_receiving))
            runner.start_sweeper()
        # Start-up objects (routes, models, schemas) live for the whole process: keep them out of every
        # later garbage collection, whose full passes otherwise stall requests for tens of milliseconds.
        gc.freeze()
        role = "API and worker" if run_worker else "API only"
        log.info(
            "CloudFaster %s ready (%s; database: %s; broker: %s)",
            __version__,
            role,
            db.url.render_as_string(hide_password=True),
            settings.worker.broker,
        )
        try:
            yield
        finally:
            stop_receiving.set()
            await runner.shutdown(grace_s=settings.worker.shutdown_grace_s)
            if receiving is not None:
                try:
                    await asyncio.wait_for(receiving, timeout=5)
                except TimeoutError:
                    log.warning("the broker receiver did not stop in time")
            await broker.shutdown()
            for hook in reversed(state.on_shutdown):
                await hook()
            await db.dispose()

    app = FastAPI(
        title="CloudFaster",
        version=__version__,
        summary="Virtual machines on Proxmox VE and Docker Compose services, through one API.",
        lifespan=lifespan,
    )
    app.state.cf = state
    install_error_handlers(app)
    install_api_key_docs(app)
    for router in (users.router, keys.router, operations.router, audit.router, logs.router, health.router):
        app.include_router(router)
    for extend in [*FEATURES, *(extensions or [])]:
        extend(app, state)
    # Routes are matched in order at a few microseconds each: the API's own come first, the docs pages last.
    docs = {app.openapi_url, app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url}
    app.router.routes.sort(key=lambda route: getattr(route, "path", None) in docs)
    app.add_middleware(RequestContextMiddleware, state=state)
    return app
