"""Host port allocation from the configured range. The ``service_ports`` primary key is the lock: two creates that
pick the same port cannot both insert it, so the loser simply picks again."""

from __future__ import annotations

import secrets
import socket
from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cloudfaster.db.models import ServicePort
from cloudfaster.errors import Conflict
from cloudfaster.settings import DockerSettings

MAX_ROUNDS = 20


def port_is_free(address: str, port: int) -> bool:
    """Whether nothing on this host listens on ``address:port`` right now (a port taken outside CloudFaster)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((address, port))
        except OSError:
            return False
    return True


async def _taken(session: AsyncSession, start: int, end: int) -> set[int]:
    rows = await session.execute(select(ServicePort.port).where(ServicePort.port.between(start, end)))
    return set(rows.scalars())


def _candidates(settings: DockerSettings, taken: set[int], count: int) -> list[int]:
    """``count`` ports from the range that are neither reserved nor in use, scanning from a random offset."""
    start, end = settings.port_range_start, settings.port_range_end
    size = end - start + 1
    offset = secrets.randbelow(size)
    chosen: list[int] = []
    for i in range(size):
        port = start + (offset + i) % size
        if port in taken or not port_is_free(settings.bind_address, port):
            continue
        chosen.append(port)
        if len(chosen) == count:
            return chosen
    raise Conflict(f"no free host ports left in {start}-{end}", code="ports_exhausted", details={"range": [start, end]})


async def allocate_ports(
    session: AsyncSession, settings: DockerSettings, service_id: int, names: Sequence[str]
) -> dict[str, int]:
    """Reserve one host port per name for ``service_id`` inside the caller's transaction."""
    for _ in range(MAX_ROUNDS):
        taken = await _taken(session, settings.port_range_start, settings.port_range_end)
        ports = dict(zip(names, _candidates(settings, taken, len(names)), strict=True))
        try:
            async with session.begin_nested():
                session.add_all(
                    ServicePort(port=port, service_id=service_id, name=name) for name, port in ports.items()
                )
                await session.flush()
        except IntegrityError:
            continue  # a concurrent create reserved one of them first: pick again
        return ports
    raise Conflict("could not reserve host ports; try again", code="ports_busy")


async def release_ports(session: AsyncSession, service_id: int) -> None:
    """Free every port a service holds."""
    await session.execute(delete(ServicePort).where(ServicePort.service_id == service_id))
