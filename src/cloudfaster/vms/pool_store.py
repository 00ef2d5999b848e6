"""IP pool and address rows: the pools, who holds which address, allocation and release.

An address is held by one row of ``ip_addresses``; the unique (pool_id, address) makes handing one out twice
impossible on every engine. Allocation locks the pool's row first (``FOR UPDATE``; SQLite serialises writers
anyway), so allocators of one pool take turns and read the addresses committed before them; a lost insert race is
still caught by the unique row and retried.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cloudfaster.core.errors import NotFoundError
from cloudfaster.db.models import IpAddress, IpPool
from cloudfaster.vms.ipnet import PoolNetwork

MAX_RACES = 20


@dataclass(frozen=True, slots=True)
class Held:
    """An address a VM holds, with the pool it comes from."""

    address: IpAddress
    pool: IpPool


def network_of(pool: IpPool) -> PoolNetwork:
    """The parsed network of a stored pool."""
    return PoolNetwork.parse(pool.cidr, pool.gateway, pool.excluded)


async def get_pool(session: AsyncSession, name: str, *, lock: bool = False) -> IpPool:
    """A pool by name (404 ``pool_not_found``); ``lock`` holds its row until the transaction ends."""
    query = select(IpPool).where(IpPool.name == name)
    pool = (await session.execute(query.with_for_update() if lock else query)).scalar_one_or_none()
    if pool is None:
        raise NotFoundError(f"IP pool {name!r} not found", code="pool_not_found")
    return pool


ALL_POOLS = select(IpPool).order_by(IpPool.name)


async def list_pools(session: AsyncSession) -> list[IpPool]:
    """Every pool, by name."""
    return list((await session.execute(ALL_POOLS)).scalars())


async def pools_serving(session: AsyncSession, node: str) -> list[IpPool]:
    """The pools that serve ``node`` (at most one per IP version)."""
    return [pool for pool in await list_pools(session) if node in pool.nodes]


async def used_counts(session: AsyncSession) -> dict[int, int]:
    """How many addresses each pool has handed out."""
    rows = await session.execute(select(IpAddress.pool_id, func.count()).group_by(IpAddress.pool_id))
    return {int(pool_id): int(count) for pool_id, count in rows.all()}


async def addresses_in(session: AsyncSession, pool: IpPool) -> list[IpAddress]:
    """The addresses handed out from ``pool``."""
    query = select(IpAddress).where(IpAddress.pool_id == pool.id).order_by(IpAddress.id)
    return list((await session.execute(query)).scalars())


async def held_by(session: AsyncSession, vmids: Sequence[int]) -> dict[int, list[Held]]:
    """The addresses each of ``vmids`` holds, IPv4 first."""
    if not vmids:
        return {}
    rows = await session.execute(
        select(IpAddress, IpPool).join(IpPool, IpPool.id == IpAddress.pool_id).where(IpAddress.vmid.in_(vmids))
    )
    held: dict[int, list[Held]] = {}
    for address, pool in rows.all():
        held.setdefault(address.vmid, []).append(Held(address, pool))
    for items in held.values():
        items.sort(key=lambda h: (":" in h.address.address, h.pool.name))
    return held


async def allocate(session: AsyncSession, pool: IpPool, vmid: int) -> IpAddress | None:
    """Hand the lowest free address of ``pool`` to ``vmid``; None when the pool is exhausted."""
    await session.execute(select(IpPool.id).where(IpPool.id == pool.id).with_for_update())
    network = network_of(pool)
    lost: set[str] = set()
    for _ in range(MAX_RACES):
        # A locking read sees what was committed before us even inside an older snapshot (InnoDB REPEATABLE READ).
        used = await session.execute(
            select(IpAddress.address).where(IpAddress.pool_id == pool.id).with_for_update(read=True)
        )
        address = network.first_free([*used.scalars(), *lost])
        if address is None:
            return None
        row = IpAddress(pool_id=pool.id, address=address, vmid=vmid)
        try:
            async with session.begin_nested():
                session.add(row)
                await session.flush()
        except IntegrityError:  # another allocator inserted it first
            lost.add(address)
            continue
        return row
    return None


async def release(session: AsyncSession, vmid: int, *, keep_pools: Iterable[int] = ()) -> list[str]:
    """Give back the addresses ``vmid`` holds, except those of ``keep_pools``; returns the released ones."""
    query = select(IpAddress).where(IpAddress.vmid == vmid)
    kept = list(keep_pools)
    if kept:
        query = query.where(IpAddress.pool_id.not_in(kept))
    rows = list((await session.execute(query)).scalars())
    if rows:
        await session.execute(delete(IpAddress).where(IpAddress.id.in_([row.id for row in rows])))
    return [row.address for row in rows]
