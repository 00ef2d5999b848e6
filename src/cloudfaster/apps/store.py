"""Service rows, the only home of the Docker half's SQL: loading with their owner, tenant checks, listing, the one
checked status write, the operation a service shows, and where a service lives on disk."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cloudfaster.apps.layout import ServiceLayout
from cloudfaster.apps.status import ROUTED, SERVICE_LIFECYCLE, WATCHED
from cloudfaster.compose.protocol import ComposeProject
from cloudfaster.core import operations as ops
from cloudfaster.core.errors import ConflictError, NotFoundError
from cloudfaster.core.lifecycle import StatusTransitionError
from cloudfaster.core.pagination import PageOf, paginate
from cloudfaster.core.principal import Principal
from cloudfaster.db.base import utcnow
from cloudfaster.db.engine import Database
from cloudfaster.db.models import DockerService, Operation, ServiceDeployment, ServiceDomain, User
from cloudfaster.settings import Settings

STAGING_DIR = ".staging"
TARGET = "service"  # the operations' target_type


@dataclass(frozen=True)
class OwnedService:
    """A service row together with its owner's userid."""

    row: DockerService
    userid: str


def owner_dir(userid: str) -> str:
    """The per-user directory name: the userid with anything but letters, digits, ``_`` and ``-`` replaced."""
    name = re.sub(r"[^A-Za-z0-9_-]", "_", userid)[:64]
    return name if name[:1].isalnum() else f"u{name}"[:64]


def service_key(settings: Settings, service_id: int) -> str:
    """The id used for the compose project and labels: the configured namespace plus the row id."""
    return f"{settings.docker.project_namespace}{service_id}"


def layout_of(settings: Settings, userid: str, service_id: int) -> ServiceLayout:
    """Where a service's files live."""
    return ServiceLayout.for_service(settings.services_path, owner_dir(userid), service_key(settings, service_id))


def project_of(layout: ServiceLayout) -> ComposeProject:
    """The compose project of a layout."""
    return ComposeProject(layout.project, layout.compose_file)


def staging_root(settings: Settings) -> Path:
    """Where uploads and clones are staged before their service directory exists (same filesystem)."""
    return settings.services_path.resolve() / STAGING_DIR


def _with_owner() -> Select[DockerService, str | None]:
    return select(DockerService, User.userid).join(User, User.id == DockerService.user_id, isouter=True)


async def load(session: AsyncSession, service_id: int) -> OwnedService | None:
    """A service and its owner's userid, or None."""
    row = (await session.execute(_with_owner().where(DockerService.id == service_id))).one_or_none()
    if row is None:
        return None
    return OwnedService(row=row[0], userid=row[1] or "")


async def load_visible(db: Database, principal: Principal, service_id: int) -> OwnedService:
    """A service the caller may see; another user's service is a 404, as if it did not exist."""
    async with db.read() as session:
        found = await load(session, service_id)
    if found is None or not principal.can_see(found.userid):
        raise NotFoundError("service not found")
    return found


async def list_services(
    session: AsyncSession, principal: Principal, *, limit: int, cursor: str | None, include_deleted: bool
) -> PageOf[OwnedService]:
    """The caller's services (admins: everyone's), oldest first, one page at a time."""
    query = _with_owner()
    if not principal.is_admin:
        query = query.where(DockerService.user_id == principal.user_id)
    if not include_deleted:
        query = query.where(DockerService.status != "deleted")
    page = await paginate(session, query, [DockerService.id], limit=limit, cursor=cursor, scalars=False)
    return page.map(lambda item: OwnedService(item[0], item[1] or ""))


async def live_ids_of(session: AsyncSession, userid: str) -> list[int]:
    """The ids of a user's services that are not deleted."""
    query = _with_owner().where(User.userid == userid, DockerService.status != "deleted").order_by(DockerService.id)
    return [row[0].id for row in await session.execute(query)]


async def check_name_free(session: AsyncSession, user_id: int, name: str) -> None:
    """409 ``name_taken`` when the user already has a service (not deleted) of that name."""
    taken = select(DockerService.id).where(DockerService.user_id == user_id, DockerService.active_name == name)
    if (await session.execute(taken)).first() is not None:
        raise ConflictError(f"you already have a service named {name!r}", code="name_taken", details={"name": name})


def add_service(session: AsyncSession, **values: Any) -> DockerService:
    """A new service row (status ``creating``, its name taken for its owner), added to the caller's transaction."""
    row = DockerService(status="creating", active_name=values["service_name"], **values)
    session.add(row)
    return row


async def set_status(session: AsyncSession, service_id: int, status: str, **fields: Any) -> None:
    """Change a service's status (and other columns), the only way status is written: the UPDATE matches only
    when the current status may become ``status`` (``status.SERVICE_LIFECYCLE``), else ``StatusTransitionError``."""
    if status == "deleted":
        fields = {**fields, "active_name": None}  # the name is free again
    result = await session.execute(
        update(DockerService)
        .where(DockerService.id == service_id, DockerService.status.in_(SERVICE_LIFECYCLE.sources(status)))
        .values(status=status, updated_at=utcnow(), **fields)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount == 1:  # type: ignore[attr-defined]
        return
    current = (
        await session.execute(select(DockerService.status).where(DockerService.id == service_id))
    ).scalar_one_or_none()
    if current is None:
        raise NotFoundError(f"service {service_id} does not exist")
    SERVICE_LIFECYCLE.check(current, status)
    raise StatusTransitionError(  # allowed now, so another writer changed it in between
        f"service {service_id} changed status while going to {status!r}", details={"to": status}
    )


async def watched_ids(session: AsyncSession) -> list[int]:
    """The services that should have running containers (reconcile compares them with Docker)."""
    rows = await session.execute(select(DockerService.id).where(DockerService.status.in_(WATCHED)))
    return list(rows.scalars())


async def shown_operation(session: AsyncSession, service_id: int) -> Operation | None:
    """The operation a service's GET shows: its active one (pending or running) if any, otherwise the latest."""
    return await ops.shown_operation(session, TARGET, str(service_id))


async def referenced_staging(session: AsyncSession) -> set[str]:
    """The staging directories (sources and handoffs) that pending or running operations still refer to."""
    return {
        str(params[key])
        for params in await ops.active_params(session)
        for key in ("staged", "handoff")
        if params.get(key)
    }


async def routed_services(session: AsyncSession) -> list[OwnedService]:
    """The services the proxy routes to (``status.ROUTED``), with their owners."""
    rows = await session.execute(_with_owner().where(DockerService.status.in_(ROUTED)).order_by(DockerService.id))
    return [OwnedService(row[0], row[1] or "") for row in rows]


async def domains_of(session: AsyncSession, service_ids: list[int]) -> dict[int, list[ServiceDomain]]:
    """The custom domains of each service, oldest first."""
    found: dict[int, list[ServiceDomain]] = {service_id: [] for service_id in service_ids}
    if service_ids:
        query = select(ServiceDomain).where(ServiceDomain.service_id.in_(service_ids)).order_by(ServiceDomain.id)
        for domain in (await session.execute(query)).scalars():
            found[domain.service_id].append(domain)
    return found


async def domain(session: AsyncSession, hostname: str) -> ServiceDomain | None:
    """The custom domain ``hostname``, whichever service has it."""
    return (await session.execute(select(ServiceDomain).where(ServiceDomain.hostname == hostname))).scalar_one_or_none()


def add_domain(session: AsyncSession, service_id: int, hostname: str) -> ServiceDomain:
    """A new ``pending`` custom domain, added to the caller's transaction."""
    row = ServiceDomain(service_id=service_id, hostname=hostname, status="pending")
    session.add(row)
    return row


async def remove_domains(session: AsyncSession, service_id: int, hostname: str | None = None) -> int:
    """Remove one custom domain of a service (or all of them); how many went."""
    query = delete(ServiceDomain).where(ServiceDomain.service_id == service_id)
    if hostname is not None:
        query = query.where(ServiceDomain.hostname == hostname)
    result = await session.execute(query.execution_options(synchronize_session=False))
    return int(result.rowcount)  # type: ignore[attr-defined]


async def pending_domains(session: AsyncSession) -> list[ServiceDomain]:
    """Custom domains of routed services that do not resolve to the proxy yet."""
    query = (
        select(ServiceDomain)
        .join(DockerService, DockerService.id == ServiceDomain.service_id)
        .where(ServiceDomain.status == "pending", DockerService.status.in_(ROUTED))
    )
    return list((await session.execute(query)).scalars())


async def mark_domain(session: AsyncSession, domain_id: int, *, active: bool) -> None:
    """Record a resolution check of a custom domain; ``active`` once it resolves to the proxy."""
    now = utcnow()
    values: dict[str, Any] = {"checked_at": now}
    if active:
        values.update(status="active", active_at=now)
    await session.execute(update(ServiceDomain).where(ServiceDomain.id == domain_id).values(**values))


async def update_service(session: AsyncSession, service_id: int, **values: Any) -> None:
    """Change columns other than ``status`` (environment, webhook) of a service."""
    if "status" in values:
        raise ValueError("status changes go through set_status")
    await session.execute(
        update(DockerService)
        .where(DockerService.id == service_id)
        .values(updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )


async def by_webhook(session: AsyncSession, token_hash: str) -> OwnedService | None:
    """The service whose push webhook has this token hash, or None."""
    row = (await session.execute(_with_owner().where(DockerService.webhook_token_hash == token_hash))).one_or_none()
    return None if row is None else OwnedService(row=row[0], userid=row[1] or "")


async def deployment_by_operation(session: AsyncSession, operation_id: str) -> ServiceDeployment | None:
    """The deployment an operation records, or None."""
    query = select(ServiceDeployment).where(ServiceDeployment.operation_id == operation_id)
    return (await session.execute(query)).scalar_one_or_none()


async def add_deployment(session: AsyncSession, service_id: int, **values: Any) -> ServiceDeployment:
    """A new deployment record numbered after the service's last one (one operation per service at a time, so
    the number is free; the unique constraint holds it anyway)."""
    last = await session.execute(
        select(func.max(ServiceDeployment.number)).where(ServiceDeployment.service_id == service_id)
    )
    row = ServiceDeployment(service_id=service_id, number=(last.scalar_one() or 0) + 1, **values)
    session.add(row)
    await session.flush()
    return row


async def get_deployment(session: AsyncSession, service_id: int, number: int) -> ServiceDeployment | None:
    """One deployment of a service, or None."""
    query = select(ServiceDeployment).where(
        ServiceDeployment.service_id == service_id, ServiceDeployment.number == number
    )
    return (await session.execute(query)).scalar_one_or_none()


async def finish_deployment(session: AsyncSession, operation_id: str, **values: Any) -> None:
    """Record how a deployment ended."""
    await session.execute(
        update(ServiceDeployment)
        .where(ServiceDeployment.operation_id == operation_id)
        .values(finished_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )


async def kept_deployments(session: AsyncSession, service_id: int) -> list[ServiceDeployment]:
    """The deployments whose source is kept on disk, newest first."""
    query = (
        select(ServiceDeployment)
        .where(ServiceDeployment.service_id == service_id, ServiceDeployment.kept.is_(True))
        .order_by(ServiceDeployment.number.desc())
    )
    return list((await session.execute(query)).scalars())


async def forget_kept(session: AsyncSession, service_id: int, numbers: list[int]) -> None:
    """Mark deployments as no longer kept on disk."""
    if numbers:
        await session.execute(
            update(ServiceDeployment)
            .where(ServiceDeployment.service_id == service_id, ServiceDeployment.number.in_(numbers))
            .values(kept=False)
            .execution_options(synchronize_session=False)
        )


async def list_deployments(
    session: AsyncSession, service_id: int, *, limit: int, cursor: str | None
) -> PageOf[ServiceDeployment]:
    """A service's deployments, oldest first, one page at a time."""
    query = select(ServiceDeployment).where(ServiceDeployment.service_id == service_id)
    return await paginate(session, query, [ServiceDeployment.number], limit=limit, cursor=cursor)
