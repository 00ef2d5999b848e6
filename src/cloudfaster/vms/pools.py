"""IP pools: admins define them, creates take addresses from them, and what cloud-init gets from an address.

A node is served by at most one pool per IP version; when an IPv4 and an IPv6 pool both serve it they must agree on
bridge and VLAN (they configure the same ``net0``). A node no pool serves keeps DHCP.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cloudfaster.core.errors import ConflictError, ValidationFailedError
from cloudfaster.core.principal import Principal
from cloudfaster.db.models import IpPool
from cloudfaster.vms import pool_store
from cloudfaster.vms.ipnet import PoolNetwork
from cloudfaster.vms.pool_store import network_of
from cloudfaster.vms.runtime import VmRuntime

DHCP = {"ipconfig0": "ip=dhcp"}
NULLABLE = ("gateway", "search_domain", "vlan")


class PoolSpec(BaseModel):
    """A pool as an admin defines it (the API's ``PoolCreate`` is this, with its input checks)."""

    name: str
    cidr: str
    gateway: str | None = None
    dns_servers: list[str] = []
    search_domain: str | None = None
    bridge: str = "vmbr0"
    vlan: int | None = None
    nodes: list[str]
    excluded: list[str] = []


class PoolChanges(BaseModel):
    """Changes to a pool; fields left out stay as they are (the API's ``PoolUpdate``)."""

    cidr: str | None = None
    gateway: str | None = None
    dns_servers: list[str] | None = None
    search_domain: str | None = None
    bridge: str | None = None
    vlan: int | None = None
    nodes: list[str] | None = None
    excluded: list[str] | None = None


class PoolExhaustedError(ConflictError):
    """No free address where the VM could go."""

    code = "pool_exhausted"


@dataclass(frozen=True, slots=True)
class PoolUsage:
    """A pool with its capacity and the addresses it has handed out (address -> VMID)."""

    pool: IpPool
    capacity: int
    used: int
    addresses: dict[str, int] | None = None


def _check_nodes(rt: VmRuntime, nodes: list[str]) -> None:
    unknown = sorted(set(nodes) - set(rt.node_names))
    if unknown:
        raise ValidationFailedError(
            f"unknown node(s) {', '.join(unknown)}; known: {', '.join(rt.node_names)}",
            code="unknown_node",
            details={"unknown": unknown, "known": rt.node_names},
        )


async def _check_neighbours(session: AsyncSession, pool: IpPool, network: PoolNetwork) -> None:
    """409 when a node of ``pool`` already has a pool of the same IP version, or one on another bridge or VLAN."""
    for other in await pool_store.list_pools(session):
        shared = sorted(set(other.nodes) & set(pool.nodes))
        if other.id == pool.id or not shared:
            continue
        if network_of(other).version == network.version:
            raise ConflictError(
                f"node(s) {', '.join(shared)} already get IPv{network.version} addresses from pool {other.name!r}",
                code="node_already_served",
                details={"pool": other.name, "nodes": shared},
            )
        if (other.bridge, other.vlan) != (pool.bridge, pool.vlan):
            raise ConflictError(
                f"pool {other.name!r} serves {', '.join(shared)} on bridge {other.bridge} VLAN {other.vlan}; "
                "pools of one node must share bridge and VLAN",
                code="pool_network_mismatch",
                details={"pool": other.name, "nodes": shared},
            )


async def create_pool(rt: VmRuntime, principal: Principal, spec: PoolSpec) -> PoolUsage:
    """Record a new pool (admins only); its name is unique (409 ``pool_exists``)."""
    principal.require_admin()
    _check_nodes(rt, spec.nodes)
    network = PoolNetwork.parse(spec.cidr, spec.gateway, spec.excluded)
    exists = ConflictError(f"an IP pool named {spec.name!r} already exists", code="pool_exists")
    try:
        async with rt.db.write() as session:
            if any(other.name == spec.name for other in await pool_store.list_pools(session)):
                raise exists
            pool = IpPool(**spec.model_dump())
            await _check_neighbours(session, pool, network)
            session.add(pool)
            await session.flush()
    except IntegrityError:  # created concurrently under the same name
        raise exists from None
    return PoolUsage(pool, network.capacity, 0, {})


async def update_pool(rt: VmRuntime, principal: Principal, name: str, changes: PoolChanges) -> PoolUsage:
    """Change a pool; every address it has handed out must stay inside it and not excluded (409 ``pool_in_use``)."""
    principal.require_admin()
    values = changes.model_dump(exclude_unset=True)
    cleared = sorted(key for key, value in values.items() if value is None and key not in NULLABLE)
    if cleared:
        raise ValidationFailedError(f"{', '.join(cleared)} cannot be null", code="invalid_pool", details=cleared)
    if changes.nodes is not None:
        _check_nodes(rt, changes.nodes)
    async with rt.db.write() as session:
        pool = await pool_store.get_pool(session, name, lock=True)
        for key, value in values.items():
            setattr(pool, key, value)
        network = network_of(pool)
        held = await pool_store.addresses_in(session, pool)
        outside = sorted(row.address for row in held if not network.allocatable(row.address))
        if outside:
            raise ConflictError(
                f"pool {name!r} has handed out {', '.join(outside[:10])}, which the change would leave out",
                code="pool_in_use",
                details={"addresses": {row.address: row.vmid for row in held if row.address in outside}},
            )
        await _check_neighbours(session, pool, network)
    return PoolUsage(pool, network.capacity, len(held), {row.address: row.vmid for row in held})


async def delete_pool(rt: VmRuntime, principal: Principal, name: str) -> None:
    """Remove a pool that hands out no address (409 ``pool_in_use`` otherwise)."""
    principal.require_admin()
    async with rt.db.write() as session:
        pool = await pool_store.get_pool(session, name, lock=True)
        held = await pool_store.addresses_in(session, pool)
        if held:
            raise ConflictError(
                f"pool {name!r} still hands out {len(held)} address(es)",
                code="pool_in_use",
                details={"addresses": {row.address: row.vmid for row in held}},
            )
        await session.delete(pool)


async def get_pool(rt: VmRuntime, principal: Principal, name: str) -> PoolUsage:
    """A pool with its usage and every address it has handed out."""
    principal.require_admin()
    async with rt.db.read() as session:
        pool = await pool_store.get_pool(session, name)
        held = await pool_store.addresses_in(session, pool)
    return PoolUsage(pool, network_of(pool).capacity, len(held), {row.address: row.vmid for row in held})


async def list_pools(rt: VmRuntime, principal: Principal) -> list[PoolUsage]:
    """Every pool with its usage counts."""
    principal.require_admin()
    async with rt.db.read() as session:
        pools = await pool_store.list_pools(session)
        counts = await pool_store.used_counts(session)
    return [PoolUsage(pool, network_of(pool).capacity, counts.get(pool.id, 0)) for pool in pools]


# ---------------------------------------------------------------------------------------------- creates


def _room(pool: IpPool, used: int) -> bool:
    return network_of(pool).capacity > used


async def check_room(session: AsyncSession, nodes: list[str]) -> None:
    """409 ``pool_exhausted`` unless one of ``nodes`` has a free address in every pool serving it (or no pool)."""
    pools = await pool_store.list_pools(session)
    if not pools:
        return
    counts = await pool_store.used_counts(session)
    full: dict[str, list[str]] = {}
    for node in nodes:
        serving = [pool for pool in pools if node in pool.nodes]
        exhausted = [pool.name for pool in serving if not _room(pool, counts.get(pool.id, 0))]
        if not exhausted:
            return
        full[node] = exhausted
    raise PoolExhaustedError(
        "no free address: every node the VM could go to has an exhausted IP pool",
        details={"nodes": full},
    )


async def assign(session: AsyncSession, vmid: int, node: str) -> dict[str, Any]:
    """Give ``vmid`` an address of each pool serving ``node`` (keeping one it already holds there) and release
    those it holds elsewhere; returns the network step's record: addresses and cloud-init values.

    Call it only once the VM is gone from its previous node: what is released may be handed out at once.
    """
    serving = await pool_store.pools_serving(session, node)
    await pool_store.release(session, vmid, keep_pools=[pool.id for pool in serving])
    if not serving:
        return network_record([])
    held = {h.pool.id: h.address for h in (await pool_store.held_by(session, [vmid])).get(vmid, [])}
    assigned: list[tuple[IpPool, str]] = []
    for pool in serving:
        row = held.get(pool.id) or await pool_store.allocate(session, pool, vmid)
        if row is None:
            raise PoolExhaustedError(
                f"IP pool {pool.name!r} ({pool.cidr}) has no free address for node {node}",
                details={"pool": pool.name, "node": node},
            )
        assigned.append((pool, row.address))
    return network_record(assigned)


def network_record(assigned: list[tuple[IpPool, str]]) -> dict[str, Any]:
    """The addresses of a VM and the cloud-init keys they give (``ipconfig0``, ``nameserver``, ``searchdomain``)
    with the bridge and VLAN of ``net0``; DHCP without a pool."""
    if not assigned:
        return {"addresses": [], "config": dict(DHCP), "bridge": None, "vlan": None}
    parts: dict[str, str] = {}
    dns: list[str] = []
    search = None
    addresses = []
    for pool, address in sorted(assigned, key=lambda item: network_of(item[0]).version):
        network = network_of(pool)
        suffix = "" if network.version == 4 else "6"
        parts[f"ip{suffix}"] = f"{address}/{network.prefix}"
        if pool.gateway:
            parts[f"gw{suffix}"] = pool.gateway
        dns += [server for server in pool.dns_servers if server not in dns]
        search = search or pool.search_domain
        addresses.append({"pool": pool.name, "address": address, "prefix": network.prefix})
    parts.setdefault("ip", "dhcp")
    order = ("ip", "gw", "ip6", "gw6")
    config = {"ipconfig0": ",".join(f"{key}={parts[key]}" for key in order if key in parts)}
    if dns:
        config["nameserver"] = " ".join(dns)
    if search:
        config["searchdomain"] = search
    pool = assigned[0][0]
    return {"addresses": addresses, "config": config, "bridge": pool.bridge, "vlan": pool.vlan}


def with_bridge(net0: str, bridge: str, vlan: int | None) -> str:
    """``net0`` moved to ``bridge`` with VLAN ``vlan`` (no ``tag`` without one), keeping model, MAC and options."""
    parts = [part for part in net0.split(",") if part and not part.startswith(("bridge=", "tag="))]
    parts.append(f"bridge={bridge}")
    if vlan is not None:
        parts.append(f"tag={vlan}")
    return ",".join(parts)
