"""Service rows: loading with their owner, tenant checks, status updates, and where a service lives on disk."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cloudfaster.apps.layout import ServiceLayout
from cloudfaster.compose.protocol import ComposeProject
from cloudfaster.core.errors import NotFoundError
from cloudfaster.core.principal import Principal
from cloudfaster.db.base import utcnow
from cloudfaster.db.engine import Database
from cloudfaster.db.models import DockerService, User
from cloudfaster.settings import Settings

STAGING_DIR = ".staging"


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


async def load(session: AsyncSession, service_id: int) -> OwnedService | None:
    """A service and its owner's userid, or None."""
    row = (
        await session.execute(
            select(DockerService, User.userid)
            .join(User, User.id == DockerService.user_id, isouter=True)
            .where(DockerService.id == service_id)
        )
    ).one_or_none()
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


async def set_status(db: Database, service_id: int, status: str, **fields: Any) -> None:
    """Change a service's status (and other columns) in its own transaction."""
    async with db.write() as session:
        await session.execute(
            update(DockerService)
            .where(DockerService.id == service_id)
            .values(status=status, updated_at=utcnow(), **fields)
        )
