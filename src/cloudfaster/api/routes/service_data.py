"""A service's data and history: database connection, dumps, password rotation and publishing for a desktop client;
deployments and rollback; environment variables; the push webhook (delivered to ``api.routes.hooks``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse

from cloudfaster.api.accepted import IdempotencyKey, WaitQuery, accepted, maybe_ref
from cloudfaster.api.deps import AppsDep, CursorQuery, LimitQuery, PrincipalDep, ServiceIdPath
from cloudfaster.api.schemas.core import Page
from cloudfaster.api.schemas.services import (
    DatabaseRead,
    DeploymentRead,
    EnvRead,
    EnvWrite,
    PasswordRotation,
    ServiceRead,
    WebhookCreated,
)
from cloudfaster.apps import databases, deployments, environment, publishing, service, webhooks
from cloudfaster.apps.environment import Variable
from cloudfaster.apps.runtime import AppRuntime
from cloudfaster.apps.store import OwnedService
from cloudfaster.core.operations import Started

router = APIRouter(prefix="/service", tags=["services"])

Engine = Annotated[str | None, Form(pattern=r"^(mysql|postgres)$", description="mysql or postgres")]
EngineQuery = Annotated[str | None, Query(pattern=r"^(mysql|postgres)$", description="mysql or postgres")]
OperationId = Annotated[str, Path(pattern=r"^[0-9a-f-]{36}$")]
PublishedEngine = Annotated[
    str | None, Query(pattern=r"^(mysql|postgres)$", description="mysql or postgres; all of the service's if left out")
]


def _accepted(rt: AppRuntime, started: Started[OwnedService]) -> JSONResponse:
    body = ServiceRead.of(
        started.resource, maybe_ref(started.operation), db_host=databases.published_host(rt.settings.docker)
    )
    return accepted(body, started.operation)


@router.post("/{service_id}/database/export", status_code=202, response_model=ServiceRead)
async def export_database(
    service_id: ServiceIdPath,
    rt: AppsDep,
    principal: PrincipalDep,
    engine: EngineQuery = None,
    idempotency_key: IdempotencyKey = None,
    wait: WaitQuery = 0,
) -> JSONResponse:
    """Dump the service's database inside its container (``service.db-export``); the operation's result names the
    ``.sql.gz`` to download."""
    started = await databases.export(rt, principal, service_id, engine, idempotency_key)
    started = await service.settle(rt, started, wait)
    return _accepted(rt, started)


@router.get("/{service_id}/database/exports/{operation_id}", response_class=FileResponse)
async def download_export(
    service_id: ServiceIdPath, operation_id: OperationId, rt: AppsDep, principal: PrincipalDep
) -> FileResponse:
    """Download an export as ``.sql.gz`` (the newest few are kept)."""
    path, filename = await databases.download(rt, principal, service_id, operation_id)
    return FileResponse(path, media_type="application/gzip", filename=filename)


@router.post("/{service_id}/database/import", status_code=202, response_model=ServiceRead)
async def import_database(
    service_id: ServiceIdPath,
    rt: AppsDep,
    principal: PrincipalDep,
    dump: Annotated[UploadFile, File(description="A .sql or .sql.gz dump")],
    engine: Engine = None,
    idempotency_key: IdempotencyKey = None,
    wait: WaitQuery = 0,
) -> JSONResponse:
    """Load a dump into the service's database (``service.db-import``); 413 over ``max_dump_bytes``, 422 when it
    is not SQL text or gzip."""
    started = await databases.import_dump(rt, principal, service_id, engine, dump.file, idempotency_key)
    started = await service.settle(rt, started, wait)
    return _accepted(rt, started)


@router.post("/{service_id}/database/rotate-password", status_code=202, response_model=PasswordRotation)
async def rotate_database_password(
    service_id: ServiceIdPath,
    rt: AppsDep,
    principal: PrincipalDep,
    idempotency_key: IdempotencyKey = None,
    wait: WaitQuery = 0,
) -> JSONResponse:
    """A new password for the app's database user (``service.rotate-db-password``), shown in this answer only."""
    started, password = await databases.rotate_password(rt, principal, service_id, idempotency_key)
    started = await service.settle(rt, started, wait)
    host = databases.published_host(rt.settings.docker)
    shown = [DatabaseRead.of(c) for c in databases.connections(started.resource, host, password)]
    return accepted(PasswordRotation(database=shown, operation=maybe_ref(started.operation)), started.operation)


@router.post("/{service_id}/database/publish", status_code=202, response_model=ServiceRead)
async def publish_database(
    service_id: ServiceIdPath,
    rt: AppsDep,
    principal: PrincipalDep,
    engine: PublishedEngine = None,
    idempotency_key: IdempotencyKey = None,
    wait: WaitQuery = 0,
) -> JSONResponse:
    """Publish the database's port on the bind address for a desktop client (``service.db-publish``): a host port
    from the service port range, shown in ``databases[].published_host`` and ``published_port``. 200 when it is
    published already."""
    started = await publishing.set_published(
        rt, principal, service_id, engine, published=True, idempotency_key=idempotency_key
    )
    return _accepted(rt, await service.settle(rt, started, wait))


@router.post("/{service_id}/database/unpublish", status_code=202, response_model=ServiceRead)
async def unpublish_database(
    service_id: ServiceIdPath,
    rt: AppsDep,
    principal: PrincipalDep,
    engine: PublishedEngine = None,
    idempotency_key: IdempotencyKey = None,
    wait: WaitQuery = 0,
) -> JSONResponse:
    """Stop publishing the database's port (``service.db-unpublish``): nothing listens there any more and the port
    is free again. 200 when it is not published."""
    started = await publishing.set_published(
        rt, principal, service_id, engine, published=False, idempotency_key=idempotency_key
    )
    return _accepted(rt, await service.settle(rt, started, wait))


@router.get("/{service_id}/deployments", response_model=Page[DeploymentRead])
async def list_deployments(
    service_id: ServiceIdPath, rt: AppsDep, principal: PrincipalDep, limit: LimitQuery = 50, cursor: CursorQuery = None
) -> Page[DeploymentRead]:
    """The service's deployments, oldest first, with their source, result and output."""
    page = await deployments.list_of(rt, principal, service_id, limit=limit, cursor=cursor)
    return Page(items=[DeploymentRead.of(row) for row in page.items], next_cursor=page.next_cursor)


@router.post("/{service_id}/deployments/{number}/rollback", status_code=202, response_model=ServiceRead)
async def rollback(
    service_id: ServiceIdPath,
    number: Annotated[int, Path(ge=1, le=2**31 - 1)],
    rt: AppsDep,
    principal: PrincipalDep,
    idempotency_key: IdempotencyKey = None,
    wait: WaitQuery = 0,
) -> JSONResponse:
    """Deploy a kept deployment's source again (``service.rollback``); 409 when it is no longer kept."""
    started = await deployments.rollback(rt, principal, service_id, number, idempotency_key)
    started = await service.settle(rt, started, wait)
    return _accepted(rt, started)


@router.get("/{service_id}/env", response_model=EnvRead)
async def read_env(service_id: ServiceIdPath, rt: AppsDep, principal: PrincipalDep) -> EnvRead:
    """The service's environment variables (secret values are write-only)."""
    return EnvRead.of(await environment.read(rt, principal, service_id))


@router.put("/{service_id}/env", response_model=EnvRead)
async def write_env(service_id: ServiceIdPath, body: EnvWrite, rt: AppsDep, principal: PrincipalDep) -> EnvRead:
    """Replace the service's variables; they apply on the next deploy or restart. A secret sent with a null value
    keeps its stored value."""
    variables = [Variable(v.name, v.value, v.secret) for v in body.variables]
    return EnvRead.of(await environment.replace(rt, principal, service_id, variables))


@router.put("/{service_id}/webhook", response_model=WebhookCreated)
async def create_webhook(
    service_id: ServiceIdPath, request: Request, rt: AppsDep, principal: PrincipalDep
) -> WebhookCreated:
    """A new push webhook for a git service: its secret URL and signing secret, shown once (an earlier one stops
    working)."""
    hook = await webhooks.create(rt, principal, service_id)
    return WebhookCreated(url=str(request.base_url).rstrip("/") + hook.path, secret=hook.secret)


@router.delete("/{service_id}/webhook", status_code=204)
async def delete_webhook(service_id: ServiceIdPath, rt: AppsDep, principal: PrincipalDep) -> None:
    """Turn the service's push webhook off."""
    await webhooks.remove(rt, principal, service_id)
