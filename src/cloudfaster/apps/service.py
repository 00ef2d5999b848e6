"""The service layer behind the routes: create, act on, redeploy, delete, list and read services."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import select

from cloudfaster.api.accepted import operation_ref
from cloudfaster.api.schemas.services import ContainerRead, FilebrowserLogin, ServiceRead
from cloudfaster.apps.builder import required_port_names, service_urls
from cloudfaster.apps.filebrowser import generate_credentials
from cloudfaster.apps.intake import SourceRequest, StagedSource, check_source, digest, discard, stage_source
from cloudfaster.apps.ports import allocate_ports, in_transaction_retrying
from cloudfaster.apps.runtime import ServiceRuntime
from cloudfaster.apps.store import OwnedService, layout_of, load, load_visible, project_of
from cloudfaster.apps.validation import CheckedCreate
from cloudfaster.compose.errors import ComposeDomainError
from cloudfaster.core import operations as ops
from cloudfaster.core import users as user_service
from cloudfaster.core.errors import ConflictError, ValidationFailedError
from cloudfaster.core.pagination import PageOf, paginate
from cloudfaster.core.principal import Principal
from cloudfaster.db.models import DockerService, Operation, User

TARGET = "service"
ACTIONS = {"start": "starting", "stop": "stopping", "restart": "restarting"}
ACTIONABLE = frozenset({"running", "stopped", "degraded"})


@dataclass(frozen=True)
class Started:
    """A service and the operation just started on it (or found again under the same Idempotency-Key)."""

    owned: OwnedService
    op: Operation
    replayed: bool = False


@dataclass(frozen=True)
class CreateOutcome(Started):
    """A create: the service, its operation and the Filebrowser login (password only on the first answer)."""

    login: FilebrowserLogin | None = None


def _source_hash(source: SourceRequest, keyed: bool) -> dict[str, Any]:
    # The upload's digest only matters to tell an Idempotency-Key replay from a different request.
    return {
        "kind": source.kind,
        "git_url": source.git_url,
        "git_ref": source.git_ref,
        "zip_sha256": digest(source.zip_file) if source.zip_file is not None and keyed else None,
    }


async def _replay(rt: ServiceRuntime, userid: str, key: str | None, body_hash: str) -> Started | None:
    async with rt.db.read() as session:
        replay = await ops.find_replay(session, owner_userid=userid, idempotency_key=key, body_hash=body_hash)
        if replay is None:
            return None
        owned = await load(session, int(replay.operation.target_id))
    assert owned is not None
    return Started(owned, replay.operation, replayed=True)


async def create(
    rt: ServiceRuntime,
    principal: Principal,
    *,
    userid: str,
    checked: CheckedCreate,
    source: SourceRequest,
    idempotency_key: str | None,
) -> CreateOutcome:
    """Check quota, stage the source (4xx for hostile input), then record the service, its ports and the
    ``service.create`` operation in one transaction and dispatch it."""
    check_source(source)
    payload = {
        "userid": userid,
        "service_name": checked.service_name,
        "types": checked.type_names,
        "env": checked.env,
        "limits": vars(checked.limits),
        "source": await asyncio.to_thread(_source_hash, source, idempotency_key is not None),
    }
    body_hash = ops.request_hash(payload)
    replay = await _replay(rt, userid, idempotency_key, body_hash)
    if replay is not None:
        login = FilebrowserLogin(
            username=replay.owned.row.filebrowser_user or "",
            password=None,
            url=(replay.owned.row.urls or {}).get("files"),
        )
        return CreateOutcome(replay.owned, replay.op, replayed=True, login=login)
    async with rt.db.read() as session:
        user = await user_service.get_user(session, principal, userid)
        await user_service.check_service_quota(session, user, rt.settings.quotas)
    credentials = generate_credentials()
    hashing = asyncio.ensure_future(asyncio.to_thread(credentials.password_hash))  # bcrypt, alongside the intake
    try:
        staged = await stage_source(rt.settings, source)
    finally:
        password_hash = await hashing
    try:
        owned, op = await in_transaction_retrying(
            partial(
                _record_create,
                rt,
                principal,
                userid,
                checked,
                source,
                staged,
                body_hash,
                filebrowser=(credentials.username, password_hash),
                idempotency_key=idempotency_key,
            )
        )
    except BaseException:
        discard(staged.path)
        raise
    await rt_dispatch(rt, op)
    urls = service_urls(rt.settings.docker.public_base_url, owned.row.ports or {})
    login = FilebrowserLogin(username=credentials.username, password=credentials.password, url=urls.get("files"))
    return CreateOutcome(owned, op, login=login)


async def _record_create(
    rt: ServiceRuntime,
    principal: Principal,
    userid: str,
    checked: CheckedCreate,
    source: SourceRequest,
    staged: StagedSource,
    body_hash: str,
    *,
    filebrowser: tuple[str, str],
    idempotency_key: str | None,
) -> tuple[OwnedService, Operation]:
    filebrowser_user, filebrowser_hash = filebrowser
    async with rt.db.write() as session:
        user = await user_service.get_user(session, principal, userid, lock=True)
        await user_service.check_service_quota(session, user, rt.settings.quotas)
        row = DockerService(
            user_id=user.id,
            service_name=checked.service_name,
            service_types=checked.type_names,
            source_type=source.kind,
            source_ref=source.ref,
            status="creating",
            status_detail={"source": staged.detail} if staged.detail else None,
            filebrowser_user=filebrowser_user,
        )
        session.add(row)
        await session.flush()
        row.ports = await allocate_ports(session, rt.settings.docker, row.id, required_port_names(checked.types))
        op = ops.new_operation(
            kind="service.create",
            target_type=TARGET,
            target_id=str(row.id),
            owner_userid=userid,
            params={
                "service_id": row.id,
                "types": checked.type_names,
                "env": checked.env,
                "limits": vars(checked.limits),
                "staged": str(staged.path) if staged.path else None,
                "filebrowser_user": filebrowser_user,
                "filebrowser_hash": filebrowser_hash,
            },
            idempotency_key=idempotency_key,
            body_hash=body_hash,
        )
        await ops.flush_operation(session, op)
    return OwnedService(row, userid), op


async def rt_dispatch(rt: ServiceRuntime, op: Operation) -> None:
    """Hand a committed operation to the runner (the sweeper re-dispatches it should this be lost)."""
    await rt.runner.dispatch(op.id)


async def start_operation(
    rt: ServiceRuntime,
    principal: Principal,
    service_id: int,
    *,
    kind: str,
    transitional: str,
    allowed: frozenset[str] | None,
    params: dict[str, Any],
    idempotency_key: str | None,
    staged: StagedSource | None = None,
) -> Started:
    """Start an operation on a visible service: 409 while another runs or when its status does not allow it."""
    owned = await load_visible(rt.db, principal, service_id)
    body_hash = ops.request_hash({"kind": kind, "service_id": service_id, **params})
    replay = await _replay(rt, owned.userid, idempotency_key, body_hash)
    if replay is not None:
        discard(staged.path if staged else None)
        return replay
    try:
        async with rt.db.write() as session:
            found = await load(session, service_id)
            assert found is not None
            op = ops.new_operation(
                kind=kind,
                target_type=TARGET,
                target_id=str(service_id),
                owner_userid=owned.userid,
                params={"service_id": service_id, "staged": str(staged.path) if staged and staged.path else None}
                | params,
                idempotency_key=idempotency_key,
                body_hash=body_hash,
            )
            await ops.flush_operation(session, op)
            row = found.row
            if row.status == "deleted" or (allowed is not None and row.status not in allowed):
                raise ConflictError(
                    f"service {service_id} is {row.status}", code="service_state", details={"status": row.status}
                )
            row.status = transitional
            row.status_detail = None
    except BaseException:
        discard(staged.path if staged else None)
        raise
    await rt_dispatch(rt, op)
    return Started(OwnedService(row, owned.userid), op)


async def stage_deploy(
    rt: ServiceRuntime, principal: Principal, service_id: int, source: SourceRequest
) -> StagedSource:
    """Check and stage a redeploy's source (after checking the caller may see the service)."""
    await load_visible(rt.db, principal, service_id)
    if source.kind == "none":
        raise ValidationFailedError("send a zip_file or a git_repo_url to deploy", code="source_missing")
    check_source(source)
    return await stage_source(rt.settings, source)


async def containers_of(rt: ServiceRuntime, owned: OwnedService) -> tuple[list[ContainerRead] | None, str | None]:
    """The live containers of a service from `docker compose ps`, or why they could not be read."""
    if owned.row.status == "deleted":
        return [], None
    project = project_of(layout_of(rt.settings, owned.userid, owned.row.id))
    try:
        containers = await rt.compose.ps(project)
    except ComposeDomainError as exc:
        return None, exc.message
    return [ContainerRead.of(c) for c in containers], None


async def read(rt: ServiceRuntime, principal: Principal, service_id: int) -> ServiceRead:
    """A visible service with its live containers and its active operation."""
    owned = await load_visible(rt.db, principal, service_id)
    async with rt.db.read() as session:
        active = await ops.active_operation(session, TARGET, str(service_id))
    body = ServiceRead.of(owned, operation_ref(active) if active else None)
    body.containers, body.docker_error = await containers_of(rt, owned)
    return body


async def list_services(
    rt: ServiceRuntime, principal: Principal, *, limit: int, cursor: str | None, include_deleted: bool
) -> PageOf[OwnedService]:
    """The caller's services (admins: everyone's), oldest first."""
    query = select(DockerService)
    if not principal.is_admin:
        query = query.where(DockerService.user_id == principal.user_id)
    if not include_deleted:
        query = query.where(DockerService.status != "deleted")
    async with rt.db.read() as session:
        page = await paginate(session, query, DockerService.id, limit=limit, cursor=cursor)
        owner_ids = {row.user_id for row in page.items if row.user_id is not None}
        rows = await session.execute(select(User.id, User.userid).where(User.id.in_(owner_ids)))
        names: dict[int, str] = {row[0]: row[1] for row in rows.all()}
    return PageOf(
        items=[OwnedService(row, names.get(row.user_id, "") if row.user_id else "") for row in page.items],
        next_cursor=page.next_cursor,
    )
