"""Host port allocation from the configured range. The ``service_ports`` primary key is the lock: two creates that
pick the same port cannot both insert it, so the loser simply picks again."""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from sqlalchemy import delete, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cloudfaster.core.errors import ConflictError
from cloudfaster.db.errors import is_deadlock
from cloudfaster.db.models import ServicePort
from cloudfaster.settings import DockerSettings

MAX_ROUNDS = 50
TRANSACTION_TRIES = 8
_random = random.SystemRandom()
T = TypeVar("T")


class AllocationRaceError(Exception):
    """The database aborted the whole transaction (a deadlock between concurrent inserts): run it again."""


async def in_transaction_retrying(action: Callable[[], Awaitable[T]]) -> T:
    """Run ``action`` (which opens its own transaction and allocates ports) again when it lost a deadlock."""
    for attempt in range(TRANSACTION_TRIES):
        try:
            return await action()
        except AllocationRaceError:
            if attempt == TRANSACTION_TRIES - 1:
                break
            await asyncio.sleep(_random.uniform(0.01, 0.05 * (attempt + 1)))
    raise ConflictError("could not reserve host ports under contention; try again", code="ports_busy")


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


def _candidates(settings: DockerSettings, order: list[int], avoid: set[int], count: int) -> list[int]:
    """The first ``count`` ports in ``order`` that are neither to be avoided nor in use on the host."""
    chosen: list[int] = []
    for port in order:
        if port in avoid or not port_is_free(settings.bind_address, port):
            continue
        chosen.append(port)
        if len(chosen) == count:
            return chosen
    start, end = settings.port_range_start, settings.port_range_end
    raise ConflictError(
        f"no free host ports left in {start}-{end}", code="ports_exhausted", details={"range": [start, end]}
    )


async def allocate_ports(
    session: AsyncSession, settings: DockerSettings, service_id: int, names: Sequence[str]
) -> dict[str, int]:
    """Reserve one host port per name for ``service_id`` inside the caller's transaction."""
    # Concurrent creates start at different places, so they rarely pick the same port. A random rotation, not a
    # shuffle: SystemRandom.shuffle reads the OS's randomness once per port of the range (10,000 by default), which
    # held this write transaction for a tenth of a second.
    span = range(settings.port_range_start, settings.port_range_end + 1)
    start = _random.randrange(len(span))
    order = [*span[start:], *span[:start]]
    # Under REPEATABLE READ (MySQL/MariaDB) our snapshot never shows ports reserved by transactions that committed
    # after ours began, so a port that lost a race is remembered in ``lost`` and skipped from then on.
    taken = await _taken(session, settings.port_range_start, settings.port_range_end)
    lost: set[int] = set()
    ports: dict[str, int] = {}
    for name in names:
        for _ in range(MAX_ROUNDS):
            [port] = _candidates(settings, order, taken | lost | set(ports.values()), 1)
            if await _insert(session, ServicePort(port=port, service_id=service_id, name=name)):
                ports[name] = port
                break
            lost.add(port)
        else:
            raise ConflictError("could not reserve host ports; try again", code="ports_busy")
    return ports


async def _insert(session: AsyncSession, row: ServicePort) -> bool:
    """Insert one reservation in a savepoint; False when a concurrent create holds that port already."""
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:
        return False
    except DBAPIError as exc:
        if is_deadlock(exc):
            raise AllocationRaceError(str(exc)) from exc
        raise
    return True


async def release_ports(session: AsyncSession, service_id: int, names: Sequence[str] | None = None) -> None:
    """Free every port a service holds (or only those of ``names``)."""
    query = delete(ServicePort).where(ServicePort.service_id == service_id)
    if names is not None:
        query = query.where(ServicePort.name.in_(list(names)))
    await session.execute(query)
