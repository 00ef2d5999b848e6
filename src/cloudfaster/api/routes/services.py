"""``/service``: create (multipart), list, read, start/stop/restart, redeploy, delete, logs (JSON or SSE)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import JSONResponse
from sse_starlette import EventSourceResponse, ServerSentEvent

from cloudfaster.api.accepted import IdempotencyKey, WaitQuery, accepted, maybe_ref
from cloudfaster.api.deps import AppsDep, AuthFirstRoute, CursorQuery, FormOnly, LimitQuery, PrincipalDep, ServiceIdPath
from cloudfaster.api.openapi import OPERATION_FAILED, errors
from cloudfaster.api.schemas.core import Page
from cloudfaster.api.schemas.services import FilebrowserLogin, LogLines, ServiceCreated, ServiceRead
from cloudfaster.apps import databases, logs, service
from cloudfaster.apps.intake import SourceRequest
from cloudfaster.apps.runtime import AppRuntime
from cloudfaster.apps.store import OwnedService
from cloudfaster.apps.validation import check_create
from cloudfaster.compose.errors import ComposeError
from cloudfaster.core import audit
from cloudfaster.core.errors import UpstreamUnavailableError
from cloudfaster.core.operations import Started

# Besides the common statuses: what an operation that failed answers after ``?wait=``, and 200 for nothing to do.
WAITED = errors(*OPERATION_FAILED) | {200: {"model": ServiceRead, "description": "Done, or nothing to do"}}
router = APIRouter(prefix="/service", tags=["services"], route_class=AuthFirstRoute)

LOG_READ_TIMEOUT_S = 30.0
Text = Annotated[str | None, Form(max_length=2048)]
ContainerName = Annotated[str | None, Query(pattern=r"^[a-z][a-z0-9-]{0,30}$", description="One container")]


def _source(zip_file: UploadFile | None, git_repo_url: str | None, git_ref: str | None) -> SourceRequest:
    has_zip = zip_file is not None and bool(zip_file.filename)
    return SourceRequest(
        zip_file=zip_file.file if zip_file is not None and has_zip else None,
        zip_name=zip_file.filename if zip_file is not None and has_zip else None,
        git_url=git_repo_url or None,
        git_ref=git_ref or None,
    )


def _accepted(rt: AppRuntime, started: Started[OwnedService]) -> JSONResponse:
    audit.note_target("service_id", started.resource.row.id)
    body = ServiceRead.of(started.resource, maybe_ref(started.operation), db_host=_db_host(rt))
    return accepted(body, started.operation)


def _db_host(rt: AppRuntime) -> str:
    return databases.published_host(rt.settings.docker)


@router.post(
    "",
    status_code=202,
    response_model=ServiceCreated,
    dependencies=[FormOnly],
    responses=errors(*OPERATION_FAILED, 403, 404, 413, 507)
    | {201: {"model": ServiceCreated, "description": "Created"}},
)
async def create_service(
    rt: AppsDep,
    principal: PrincipalDep,
    service_name: Annotated[str, Form(max_length=1000)],
    service_types: Annotated[list[str], Form(description="static, php, node, react, mysql, postgres, macos")],
    userid: Annotated[str | None, Form(max_length=64, description="Who owns it (admin keys must say)")] = None,
    zip_file: Annotated[UploadFile | None, File(description="The site or app as a ZIP")] = None,
    git_repo_url: Text = None,
    git_ref: Annotated[str | None, Form(max_length=200, description="Branch or tag")] = None,
    env: Annotated[str | None, Form(max_length=256 * 1024, description="JSON object of variables")] = None,
    cpus: Annotated[float | None, Form()] = None,
    memory_mb: Annotated[int | None, Form()] = None,
    pids: Annotated[int | None, Form()] = None,
    publish_database: Annotated[
        bool, Form(description="Publish the MySQL/PostgreSQL port on the bind address for a desktop client")
    ] = False,
    idempotency_key: IdempotencyKey = None,
    wait: WaitQuery = 0,
) -> JSONResponse:
    """Create a service: 202 with the service ``creating``, its operation and the Filebrowser login (shown once).
    Hostile uploads and repositories are refused here with a 4xx and leave nothing behind."""
    acting = principal.acting_userid(userid)
    checked = check_create(
        rt.settings.docker,
        service_name=service_name,
        service_types=service_types,
        env=env,
        cpus=cpus,
        memory_mb=memory_mb,
        pids=pids,
        publish_database=publish_database,
    )
    outcome = await service.create(
        rt,
        principal,
        userid=acting,
        checked=checked,
        source=_source(zip_file, git_repo_url, git_ref),
        idempotency_key=idempotency_key,
    )
    created = await service.settle(rt, outcome, wait)
    audit.note_target("service_id", created.resource.row.id)
    login = FilebrowserLogin.of(created.login)
    login.url = (created.resource.row.urls or {}).get("files", login.url)
    read = ServiceRead.of(created.resource, maybe_ref(created.operation), db_host=_db_host(rt))
    for database in read.databases:
        database.password = created.database_password  # shown in this answer only
    body = ServiceCreated(**read.model_dump(), filebrowser=login)
    return accepted(body, created.operation, done_status=201)


@router.get("", response_model=Page[ServiceRead])
async def list_services(
    rt: AppsDep,
    principal: PrincipalDep,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
    include_deleted: bool = False,
) -> Page[ServiceRead]:
    """The caller's services (admins: everyone's), oldest first; deleted ones only when asked."""
    page = await service.list_services(rt, principal, limit=limit, cursor=cursor, include_deleted=include_deleted)
    items = [ServiceRead.of(owned, db_host=_db_host(rt)) for owned in page.items]
    return Page(items=items, next_cursor=page.next_cursor)


@router.get("/{service_id}", response_model=ServiceRead)
async def get_service(service_id: ServiceIdPath, rt: AppsDep, principal: PrincipalDep) -> ServiceRead:
    """One service with the live state of each container (`docker compose ps`), its URLs and its operation: the
    active one if any, otherwise the latest."""
    return ServiceRead.of_detail(await service.read(rt, principal, service_id), db_host=_db_host(rt))


@router.post(
    "/{service_id}/deploy",
    status_code=202,
    response_model=ServiceRead,
    dependencies=[FormOnly],
    responses=WAITED | errors(413, 507),
)
async def deploy_service(
    service_id: ServiceIdPath,
    rt: AppsDep,
    principal: PrincipalDep,
    zip_file: Annotated[UploadFile | None, File(description="The new site or app as a ZIP")] = None,
    git_repo_url: Text = None,
    git_ref: Annotated[str | None, Form(max_length=200)] = None,
    idempotency_key: IdempotencyKey = None,
    wait: WaitQuery = 0,
) -> JSONResponse:
    """Redeploy from a new ZIP or git ref; the previous files stay in place until the new deployment is healthy."""
    started = await service.deploy(rt, principal, service_id, _source(zip_file, git_repo_url, git_ref), idempotency_key)
    return _accepted(rt, await service.settle(rt, started, wait))


@router.post("/{service_id}/{action}", status_code=202, response_model=ServiceRead, responses=WAITED)
async def act_on_service(
    service_id: ServiceIdPath,
    action: Literal["start", "stop", "restart"],
    rt: AppsDep,
    principal: PrincipalDep,
    idempotency_key: IdempotencyKey = None,
    wait: WaitQuery = 0,
) -> JSONResponse:
    """Start, stop or restart the service's containers."""
    started = await service.act(rt, principal, service_id, action, idempotency_key)
    return _accepted(rt, await service.settle(rt, started, wait))


@router.delete("/{service_id}", status_code=202, response_model=ServiceRead, responses=WAITED)
async def delete_service(
    service_id: ServiceIdPath,
    rt: AppsDep,
    principal: PrincipalDep,
    idempotency_key: IdempotencyKey = None,
    wait: WaitQuery = 0,
) -> JSONResponse:
    """`down` with volumes, files and ports freed; the record is kept with status ``deleted``."""
    started = await service.delete(rt, principal, service_id, idempotency_key)
    return _accepted(rt, await service.settle(rt, started, wait))


@router.get(
    "/{service_id}/logs",
    response_model=LogLines,
    responses=errors(409, 503) | {200: {"content": {"text/event-stream": {}}, "description": "Lines, or a stream"}},
)
async def service_logs(
    service_id: ServiceIdPath,
    rt: AppsDep,
    principal: PrincipalDep,
    follow: bool = False,
    tail: Annotated[int, Query(ge=1, le=10_000)] = 200,
    container: ContainerName = None,
) -> LogLines | EventSourceResponse:
    """The last ``tail`` log lines; with ``follow=true`` a Server-Sent Events stream (``event: log``) until the
    client disconnects."""
    project = await logs.logs_of(rt, principal, service_id, container)
    services = [container] if container else []
    if not follow:
        try:
            async with asyncio.timeout(LOG_READ_TIMEOUT_S):
                lines = [line async for line in rt.compose.logs(project, tail=tail, services=services)]
        except (ComposeError, TimeoutError) as exc:
            raise UpstreamUnavailableError(
                "could not read the service's logs from Docker", code="docker_unavailable"
            ) from exc
        return LogLines(lines=lines)

    async def events() -> AsyncIterator[ServerSentEvent]:
        stream = rt.compose.logs(project, follow=True, tail=tail, services=services)
        try:
            yield ServerSentEvent(event="ready", data=json.dumps({"service_id": service_id}))
            async for line in stream:
                yield ServerSentEvent(event="log", data=line)
            yield ServerSentEvent(event="end", data="{}")
        except ComposeError as exc:
            yield ServerSentEvent(event="error", data=json.dumps({"message": exc.message}))
        finally:
            await stream.aclose()  # type: ignore[attr-defined]

    return EventSourceResponse(events(), ping=15, send_timeout=30)
