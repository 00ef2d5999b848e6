"""The HTTP layer: mounts routes, error handlers, docs and middleware on a CloudFaster instance."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from cloudfaster import __version__
from cloudfaster.api.errors import install_error_handlers
from cloudfaster.api.middleware import RequestContextMiddleware
from cloudfaster.api.openapi import install_api_key_docs
from cloudfaster.api.ratelimit import KeyRateLimiter
from cloudfaster.api.routes import (
    audit,
    console,
    dashboard,
    domains,
    health,
    hooks,
    keys,
    logs,
    operation_events,
    operations,
    pools,
    service_data,
    services,
    session,
    sizes,
    users,
    vms,
    vms_daytwo,
)
from cloudfaster.api.schemas.core import UserRead
from cloudfaster.api.state import AppState
from cloudfaster.core.runner.kinds import OperationKind
from cloudfaster.core.sessions import SessionStore
from cloudfaster.core.users import UserDirectory
from cloudfaster.instance import Instance, build_instance
from cloudfaster.settings import Settings

Extension = Callable[[FastAPI, AppState], None]
# domains and service_data before services: their fixed paths must match before POST /service/{id}/{action};
# vms_daytwo before vms likewise before POST /vm/{vmid}/{action} (/vm/{vmid}/rebuild and the like).
ROUTERS = (
    *(users, keys, operations, operation_events, audit, logs, health, vms_daytwo, vms, sizes, pools, domains),
    *(service_data, services, hooks, console, session, dashboard),
)
DOCS_ASSETS = "/static-offline-docs"
DOCS_PATHS = frozenset({"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc", DOCS_ASSETS, "/"})


def mount(instance: Instance, *, extensions: Iterable[Extension] = ()) -> FastAPI:
    """The FastAPI app serving ``instance``; its lifespan starts and stops the instance."""
    state = AppState(
        instance=instance,
        rate_limiter=KeyRateLimiter(instance.settings.rate_limit),
        users=UserDirectory(instance.db, render=lambda user: UserRead.model_validate(user).model_dump_json().encode()),
        sessions=SessionStore(instance.db, instance.authenticator, ttl_s=instance.settings.dashboard.session_ttl_s),
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with instance.running():
            yield

    # Swagger UI and ReDoc come from the installed fastapi-offline package, not from a CDN: /docs works offline.
    app = FastAPIOffline(
        static_url=DOCS_ASSETS,
        title="CloudFaster",
        version=__version__,
        summary="Virtual machines on Proxmox VE and Docker Compose services, through one API.",
        lifespan=lifespan,
    )
    app.state.cf = state
    instance.user_deletion.on_deleted.append(state.users.forget)
    install_error_handlers(app)
    install_api_key_docs(app)
    for module in ROUTERS:
        # The routes themselves, not include_router: FastAPI matches an included router's routes twice per request
        # (once to pick the router, once inside it), a tenth of a cheap read's time.
        app.router.routes.extend(module.router.routes)
    console.mount_assets(app)
    dashboard.mount_assets(app)
    for extend in extensions:
        extend(app, state)
    # Routes are matched in order at a few microseconds each: the API's own come first, the docs pages last.
    app.router.routes.sort(key=lambda route: getattr(route, "path", None) in DOCS_PATHS)
    app.add_middleware(RequestContextMiddleware, state=state)
    return app


def create_app(
    settings: Settings,
    *,
    run_worker: bool = True,
    kinds: dict[str, OperationKind[Any]] | None = None,
    extensions: Iterable[Extension] = (),
    configure_logs: bool = True,
) -> FastAPI:
    """Build an instance from ``settings`` and mount the HTTP layer on it."""
    instance = build_instance(
        settings, run_worker=run_worker, kinds=(kinds or {}).values(), configure_logs=configure_logs
    )
    return mount(instance, extensions=extensions)
