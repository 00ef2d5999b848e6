"""The Docker half's service layer behind the routes: create, act on, redeploy, delete, list and read services.

Every call that starts an operation returns a ``Started`` (``Created`` for a create); the routes build the HTTP
views from these and from ``ServiceDetail``.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from cloudfaster.apps import environment, store
from cloudfaster.apps.builder import required_port_names
from cloudfaster.apps.filebrowser import FilebrowserCredentials
from cloudfaster.apps.intake import SourceRequest, StagedSource, check_source, digest, discard, stage_source
from cloudfaster.apps.operations import find_replay, start_operation
from cloudfaster.apps.params import (
    Action,
    ActionParams,
    CreateParams,
    DeleteParams,
    DeployParams,
    Limits,
)
from cloudfaster.apps.ports import allocate_ports, in_transaction_retrying
from cloudfaster.apps.prepared_logins import PREPARED_LOGINS
from cloudfaster.apps.runtime import AppRuntime
from cloudfaster.apps.secrets import CreateSecrets, drop_secrets, store_secrets
from cloudfaster.apps.spec import DATABASE_TYPES, DatabaseCredentials
from cloudfaster.apps.status import (
    DELETED,
    DELETING,
    DEPLOYING,
    RESTARTING,
    RUNNING,
    STARTING,
    STOPPED,
    STOPPING,
)
from cloudfaster.apps.store import TARGET, OwnedService
from cloudfaster.apps.validation import CheckedCreate
from cloudfaster.compose.errors import ComposeError
from cloudfaster.compose.protocol import ComposeProject, ContainerStatus
from cloudfaster.core import operations as ops
from cloudfaster.core import users as user_service
from cloudfaster.core.errors import ConflictError, ValidationFailedError
from cloudfaster.core.operations import Started
from cloudfaster.core.pagination import PageOf
from cloudfaster.core.principal import Principal
from cloudfaster.db.models import Operation

ACTIONS: dict[str, str] = {"start": STARTING, "stop": STOPPING, "restart": RESTARTING}
SATISFIED: dict[str, str] = {"start": RUNNING, "stop": STOPPED}  # the status in which an action has nothing to do
S = TypeVar("S", bound="Started[OwnedService]")
T = TypeVar("T")


@dataclass(frozen=True)
class FilebrowserAccount:
    """The Filebrowser login of a new service; ``password`` only on the first answer, never stored in plain."""

    username: str
    password: str | None
    url: str | None


@dataclass(frozen=True, kw_only=True)
class Created(Started[OwnedService]):
    """A create: the service, its operation and the Filebrowser login."""

    login: FilebrowserAccount
    database_password: str | None = None


@dataclass(frozen=True)
class ServiceDetail:
    """A service with the operation it shows and its live containers (None, with the reason, if Docker did not
    answer)."""

    resource: OwnedService
    operation: Operation | None
    containers: list[ContainerStatus] | None
    docker_error: str | None


def _source_hash(source: SourceRequest, keyed: bool) -> dict[str, Any]:
    # The upload's digest only matters to tell an Idempotency-Key replay from a different request.
    return {
        "kind": source.kind,
        "git_url": source.git_url,
        "git_ref": source.git_ref,
        "zip_sha256": digest(source.zip_file) if source.zip_file is not None and keyed else None,
    }


async def _digest_of(source: SourceRequest, staged: StagedSource) -> str | None:
    """What identifies a deployed source: the ZIP's SHA-256 or the cloned commit."""
    if staged.digest is not None:
        return staged.digest
    if source.zip_file is not None:
        return await asyncio.to_thread(digest, source.zip_file)
    commit = staged.detail.get("commit")
    return str(commit) if commit else None


@dataclass(frozen=True)
class _Sealed:
    login: FilebrowserCredentials
    secrets_ref: str


async def _seal_secrets(rt: AppRuntime, checked: CheckedCreate, database: DatabaseCredentials | None) -> _Sealed:
    """Take a Filebrowser login (hashed ahead, or now) and store its hash with the other secrets."""
    login = await PREPARED_LOGINS.take()
    values = CreateSecrets(
        filebrowser_hash=login.password_hash,
        env=checked.env,
        database_password=database.password if database else None,
        database_root_password=database.root_password if database else None,
    )
    return _Sealed(login.credentials, await asyncio.to_thread(store_secrets, rt.settings, values))


async def _undo(task: asyncio.Future[T], undo: Callable[[T], None]) -> None:
    """Let ``task`` finish (a thread cannot be stopped midway), then undo what it made, if it succeeded."""
    await asyncio.gather(task, return_exceptions=True)
    if not task.cancelled() and task.exception() is None:
        undo(task.result())


async def create(
    rt: AppRuntime,
    principal: Principal,
    *,
    userid: str,
    checked: CheckedCreate,
    source: SourceRequest,
    idempotency_key: str | None,
) -> Created:
    """Check quota, stage the source (4xx for hostile input), then record the service, its ports and the
    ``service.create`` operation in one transaction and dispatch it."""
    check_source(source)
    limits = Limits.of(checked.limits)
    fingerprint = {
        "userid": userid,
        "service_name": checked.service_name,
        "types": checked.type_names,
        "env": checked.env,
        "limits": limits.model_dump(),
        **({"published": checked.published_databases} if checked.published_databases else {}),
        "source": await asyncio.to_thread(_source_hash, source, idempotency_key is not None),
    }
    body_hash = ops.request_hash(fingerprint)
    replay = await find_replay(rt, userid, idempotency_key, body_hash)
    if replay is not None:
        row = replay.resource.row
        login = FilebrowserAccount(
            username=row.filebrowser_user or "", password=None, url=(row.urls or {}).get("files")
        )
        return Created(replay.resource, replay.operation, replayed=True, login=login)
    async with rt.db.read() as session:  # refused before any side effect
        user = await user_service.get_user(session, principal, userid)
        await user_service.check_service_quota(session, user, rt.settings.quotas)
        await store.check_name_free(session, user.id, checked.service_name)
    database = DatabaseCredentials.generate() if checked.types & DATABASE_TYPES else None
    # The secrets (a Filebrowser login, hashed in a thread unless one was ready, then a small file) are sealed while
    # the intake writes the files; whichever fails, what the other made is removed before the error is raised.
    sealing = asyncio.ensure_future(_seal_secrets(rt, checked, database))
    try:
        staged = await stage_source(rt, source)
    except BaseException:
        await _undo(sealing, lambda sealed: drop_secrets(rt.settings, sealed.secrets_ref))
        raise
    try:
        sealed = await sealing
    except BaseException:
        discard(staged.path)
        raise
    credentials, secrets_ref = sealed.login, sealed.secrets_ref
    source_digest = await _digest_of(source, staged)

    def params(service_id: int) -> CreateParams:
        return CreateParams(
            service_id=service_id,
            types=checked.type_names,
            limits=limits,
            staged=str(staged.path) if staged.path else None,
            filebrowser_user=credentials.username,
            secrets_ref=secrets_ref,
            source_digest=source_digest,
        )

    record = partial(_record_create, rt, principal, userid, checked, source, staged, params)
    try:
        owned, op = await in_transaction_retrying(
            partial(
                record,
                filebrowser_user=credentials.username,
                body_hash=body_hash,
                idempotency_key=idempotency_key,
            )
        )
    except BaseException:
        discard(staged.path)
        drop_secrets(rt.settings, secrets_ref)
        raise
    await rt.runner.dispatch(op.id)
    urls = rt.urls_of(owned)
    login = FilebrowserAccount(username=credentials.username, password=credentials.password, url=urls.get("files"))
    return Created(owned, op, login=login, database_password=database.password if database else None)


async def _record_create(
    rt: AppRuntime,
    principal: Principal,
    userid: str,
    checked: CheckedCreate,
    source: SourceRequest,
    staged: StagedSource,
    params: Callable[[int], CreateParams],
    *,
    filebrowser_user: str,
    body_hash: str,
    idempotency_key: str | None,
) -> tuple[OwnedService, Operation]:
    async with rt.db.write() as session:
        user = await user_service.get_user(session, principal, userid, lock=True)
        await user_service.check_service_quota(session, user, rt.settings.quotas)
        await store.check_name_free(session, user.id, checked.service_name)  # under the user's lock: no race
        row = store.add_service(
            session,
            user_id=user.id,
            service_name=checked.service_name,
            service_types=checked.type_names,
            source_type=source.kind,
            source_ref=source.ref,
            status_detail={"source": staged.detail} if staged.detail else None,
            filebrowser_user=filebrowser_user,
            env=environment.on_create(checked.env),
        )
        await session.flush()
        names = required_port_names(checked.types) + checked.published_databases
        row.ports = await allocate_ports(session, rt.settings.docker, row.id, names)
        op = ops.new_operation(
            kind="service.create",
            target_type=TARGET,
            target_id=str(row.id),
            owner_userid=userid,
            params=params(row.id),
            idempotency_key=idempotency_key,
            body_hash=body_hash,
        )
        await ops.flush_operation(session, op)
    return OwnedService(row, userid), op


async def act(
    rt: AppRuntime, principal: Principal, service_id: int, action: Action, idempotency_key: str | None
) -> Started[OwnedService]:
    """Start, stop or restart a visible service's containers (``service.action``); a start of a running or a stop
    of a stopped service does nothing."""
    owned = await store.load_visible(rt.db, principal, service_id)
    if SATISFIED.get(action) == owned.row.status:
        return Started(owned, None)
    return await start_operation(
        rt,
        owned,
        kind="service.action",
        transitional=ACTIONS[action],
        params=ActionParams(service_id=service_id, action=action),
        fingerprint={"action": action},
        idempotency_key=idempotency_key,
    )


async def deploy(
    rt: AppRuntime, principal: Principal, service_id: int, source: SourceRequest, idempotency_key: str | None
) -> Started[OwnedService]:
    """Check and stage a redeploy's source (after checking the caller may see the service), then start
    ``service.deploy``."""
    owned = await store.load_visible(rt.db, principal, service_id)
    if source.kind == "none":
        raise ValidationFailedError("send a zip_file or a git_repo_url to deploy", code="source_missing")
    check_source(source)
    staged = await stage_source(rt, source)
    zip_digest = await _digest_of(source, staged)
    params = DeployParams(
        service_id=service_id,
        staged=str(staged.path) if staged.path else None,
        source_type=source.kind,
        source_ref=source.ref,
        source_digest=zip_digest,
    )
    return await start_operation(
        rt,
        owned,
        kind="service.deploy",
        transitional=DEPLOYING,
        params=params,
        fingerprint={"source_type": source.kind, "source_ref": source.ref, "source_digest": zip_digest},
        idempotency_key=idempotency_key,
        staged=staged,
    )


async def delete(
    rt: AppRuntime, principal: Principal, service_id: int, idempotency_key: str | None
) -> Started[OwnedService]:
    """Start ``service.delete`` on a visible service (from any status but ``deleted``)."""
    owned = await store.load_visible(rt.db, principal, service_id)
    return await start_operation(
        rt,
        owned,
        kind="service.delete",
        transitional=DELETING,
        params=DeleteParams(service_id=service_id),
        fingerprint={},
        idempotency_key=idempotency_key,
    )


async def delete_owned(rt: AppRuntime, principal: Principal, userid: str) -> list[str]:
    """Start deleting each of a user's services (for ``user.delete``); the operations to wait for: a service's
    running operation, or its deletion just started."""
    async with rt.db.read() as session:
        service_ids = await store.live_ids_of(session, userid)
    waiting = []
    for service_id in service_ids:
        async with rt.db.read() as session:
            active = await ops.active_operation(session, TARGET, str(service_id))
        if active is None:
            try:
                active = (await delete(rt, principal, service_id, None)).operation
            except ConflictError as exc:
                if exc.code != "operation_in_progress":
                    raise
                continue  # another operation started in between: the next round waits for it
        if active is not None:
            waiting.append(active.id)
    return waiting


async def settle(rt: AppRuntime, started: S, wait_s: float) -> S:
    """After ``?wait=``: the operation once ended (or as it is by then) and the service as it is now."""
    if wait_s <= 0 or started.operation is None:
        return started
    op = await ops.wait_for_end(rt.db, started.operation.id, wait_s)
    async with rt.db.read() as session:
        reloaded = await store.load(session, started.resource.row.id)
    return dataclasses.replace(started, resource=reloaded or started.resource, operation=op)


async def read(rt: AppRuntime, principal: Principal, service_id: int) -> ServiceDetail:
    """A visible service with its live containers and the operation it shows (active, else the latest)."""
    owned = await store.load_visible(rt.db, principal, service_id)
    async with rt.db.read() as session:
        shown = await store.shown_operation(session, service_id)
    if owned.row.status == DELETED:
        return ServiceDetail(owned, shown, [], None)
    try:
        containers = await rt.compose.ps(project_of_service(rt, owned))
    except ComposeError as exc:
        return ServiceDetail(owned, shown, None, exc.message)
    return ServiceDetail(owned, shown, containers, None)


async def list_services(
    rt: AppRuntime, principal: Principal, *, limit: int, cursor: str | None, include_deleted: bool
) -> PageOf[OwnedService]:
    """The caller's services (admins: everyone's), oldest first."""
    async with rt.db.read() as session:
        return await store.list_services(
            session, principal, limit=limit, cursor=cursor, include_deleted=include_deleted
        )


def project_of_service(rt: AppRuntime, owned: OwnedService) -> ComposeProject:
    """The compose project of a service."""
    return store.project_of(store.layout_of(rt.settings, owned.userid, owned.row.id))
