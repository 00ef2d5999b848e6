"""``/service``: create (multipart), list, read, start/stop/restart, redeploy, delete, logs (JSON or SSE)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import JSONResponse
from sse_starlette import EventSourceResponse, ServerSentEvent

from cloudfaster.api.accepted import IdempotencyKey, WaitQuery, accepted, operation_ref
from cloudfaster.api.deps import CursorQuery, LimitQuery, PrincipalDep
from cloudfaster.api.schemas.core import Page
from cloudfaster.api.schemas.services import LogLines, ServiceCreated, ServiceRead
from cloudfaster.apps import service
from cloudfaster.apps.intake import SourceRequest, digest
from cloudfaster.apps.runtime import ServiceRuntime
from cloudfaster.apps.store import OwnedService, layout_of, load, load_visible, project_of
from cloudfaster.apps.validation import check_create
from cloudfaster.compose.errors import ComposeDomainError
from cloudfaster.core.errors import ConflictError, UpstreamUnavailableError
from cloudfaster.core.operations import wait_for_end
from cloudfaster.core.principal import Principal
from cloudfaster.db.models import Operation

router = APIRouter(prefix="/service", tags=["services"])

LOG_READ_TIMEOUT_S = 30.0
Text = Annotated[str | None, Form(max_length=2048)]
ContainerName = Annotated[str | None, Query(pattern=r"^[a-z][a-z0-9-]{0,30}$", description="One container")]


def runtime_of(request: Request) -> ServiceRuntime:
    """The service runtime wired in by ``wiring.install``."""
    runtime: ServiceRuntime = request.app.state.docker_services
    return runtime


def _source(zip_file: UploadFile | None, git_repo_url: str | None, git_ref: str | None) -> SourceRequest:
    has_zip = zip_file is not None and bool(zip_file.filename)
    return SourceRequest(
        zip_file=zip_file.file if zip_file is not None and has_zip else None,
        zip_name=zip_file.filename if zip_file is not None and has_zip else None,
        git_url=git_repo_url or None,
        git_ref=git_ref or None,
    )


async def _settle(
    rt: ServiceRuntime, owned: OwnedService, op: Operation, wait: float
) -> tuple[OwnedService, Operation]:
    """After ``?wait=``: the operation once ended (or as it is by then) and the service as it is now."""
    if wait <= 0:
        return owned, op
    op = await wait_for_end(rt.db, op.id, wait)
    async with rt.db.read() as session:
        reloaded = await load(session, owned.row.id)
    return reloaded or owned, op


@router.post("", status_code=202, response_model=ServiceCreated)
async def create_service(
    request: Request,
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
    idempotency_key: IdempotencyKey = None,
    wait: WaitQuery = 0,
) -> JSONResponse:
    """Create a service: 202 with the service ``creating``, its operation and the Filebrowser login (shown once).
    Hostile uploads and repositories are refused here with a 4xx and leave nothing behind."""
    rt = runtime_of(request)
    acting = principal.acting_userid(userid)
    checked = check_create(
        rt.settings.docker,
        service_name=service_name,
        service_types=service_types,
        env=env,
        cpus=cpus,
        memory_mb=memory_mb,
        pids=pids,
    )
    outcome = await service.create(
        rt,
        principal,
        userid=acting,
        checked=checked,
        source=_source(zip_file, git_repo_url, git_ref),
        idempotency_key=idempotency_key,
    )
    owned, op = await _settle(rt, outcome.owned, outcome.op, wait)
    assert outcome.login is not None
    login = outcome.login.model_copy(update={"url": (owned.row.urls or {}).get("files", outcome.login.url)})
    body = ServiceCreated(**ServiceRead.of(owned, operation_ref(op)).model_dump(), filebrowser=login)
    return accepted(body, op, done_status=201)


@router.get("", response_model=Page[ServiceRead])
async def list_services(
    request: Request,
    principal: PrincipalDep,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
    include_deleted: bool = False,
) -> Page[ServiceRead]:
    """The caller's services (admins: everyone's), oldest first; deleted ones only when asked."""
    page = await service.list_services(
        runtime_of(request), principal, limit=limit, cursor=cursor, include_deleted=include_deleted
    )
    return Page(items=[ServiceRead.of(owned) for owned in page.items], next_cursor=page.next_cursor)


@router.get("/{service_id}", response_model=ServiceRead)
async def get_service(service_id: int, request: Request, principal: PrincipalDep) -> ServiceRead:
    """One service with the live state of each container (`docker compose ps`) and its URLs."""
    return await service.read(runtime_of(request), principal, service_id)


async def _answer(rt: ServiceRuntime, started: service.Started, wait: float) -> JSONResponse:
    owned, op = await _settle(rt, started.owned, started.op, wait)
    return accepted(ServiceRead.of(owned, operation_ref(op)), op)


@router.post("/{service_id}/deploy", status_code=202, response_model=ServiceRead)
async def deploy_service(
    service_id: int,
    request: Request,
    principal: PrincipalDep,
    zip_file: Annotated[UploadFile | None, File(description="The new site or app as a ZIP")] = None,
    git_repo_url: Text = None,
    git_ref: Annotated[str | None, Form(max_length=200)] = None,
    idempotency_key: IdempotencyKey = None,
    wait: WaitQuery = 0,
) -> JSONResponse:
    """Redeploy from a new ZIP or git ref; the previous files stay in place until the new deployment is healthy."""
    rt = runtime_of(request)
    source = _source(zip_file, git_repo_url, git_ref)
    staged = await service.stage_deploy(rt, principal, service_id, source)
    zip_digest = await asyncio.to_thread(digest, source.zip_file) if source.zip_file is not None else None
    started = await service.start_operation(
        rt,
        principal,
        service_id,
        kind="service.deploy",
        transitional="deploying",
        allowed=service.ACTIONABLE,
        params={"source_type": source.kind, "source_ref": source.ref, "source_digest": zip_digest},
        idempotency_key=idempotency_key,
        staged=staged,
    )
    return await _answer(rt, started, wait)


@router.post("/{service_id}/{action}", status_code=202, response_model=ServiceRead)
async def act_on_service(
    service_id: int,
    action: Literal["start", "stop", "restart"],
    request: Request,
    principal: PrincipalDep,
    idempotency_key: IdempotencyKey = None,
    wait: WaitQuery = 0,
) -> JSONResponse:
    """Start, stop or restart the service's containers."""
    rt = runtime_of(request)
    started = await service.start_operation(
        rt,
        principal,
        service_id,
        kind="service.action",
        transitional=service.ACTIONS[action],
        allowed=service.ACTIONABLE,
        params={"action": action},
        idempotency_key=idempotency_key,
    )
    return await _answer(rt, started, wait)


@router.delete("/{service_id}", status_code=202, response_model=ServiceRead)
async def delete_service(
    service_id: int,
    request: Request,
    principal: PrincipalDep,
    idempotency_key: IdempotencyKey = None,
    wait: WaitQuery = 0,
) -> JSONResponse:
    """`down` with volumes, files and ports freed; the record is kept with status ``deleted``."""
    rt = runtime_of(request)
    started = await service.start_operation(
        rt,
        principal,
        service_id,
        kind="service.delete",
        transitional="deleting",
        allowed=None,
        params={},
        idempotency_key=idempotency_key,
    )
    return await _answer(rt, started, wait)


async def _log_target(rt: ServiceRuntime, principal: Principal, service_id: int) -> OwnedService:
    owned = await load_visible(rt.db, principal, service_id)
    if owned.row.status in ("deleted", "failed"):
        raise ConflictError(f"service {service_id} is {owned.row.status}: no containers", code="service_state")
    return owned


@router.get("/{service_id}/logs", response_model=LogLines)
async def service_logs(
    service_id: int,
    request: Request,
    principal: PrincipalDep,
    follow: bool = False,
    tail: Annotated[int, Query(ge=1, le=10_000)] = 200,
    container: ContainerName = None,
) -> LogLines | EventSourceResponse:
    """The last ``tail`` log lines; with ``follow=true`` a Server-Sent Events stream (``event: log``) until the
    client disconnects."""
    rt = runtime_of(request)
    owned = await _log_target(rt, principal, service_id)
    project = project_of(layout_of(rt.settings, owned.userid, owned.row.id))
    services = [container] if container else []
    if not follow:
        try:
            async with asyncio.timeout(LOG_READ_TIMEOUT_S):
                lines = [line async for line in rt.compose.logs(project, tail=tail, services=services)]
        except (ComposeDomainError, TimeoutError) as exc:
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
        except ComposeDomainError as exc:
            yield ServerSentEvent(event="error", data=json.dumps({"message": exc.message}))
        finally:
            await stream.aclose()  # type: ignore[attr-defined]

    return EventSourceResponse(events(), ping=15, send_timeout=30)
