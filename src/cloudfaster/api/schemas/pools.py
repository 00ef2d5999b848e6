"""Request and response bodies of the IP pool API (admins only)."""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from cloudfaster.vms.pools import PoolChanges, PoolSpec, PoolUsage

PoolName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
NodeName = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z0-9][a-zA-Z0-9-]{0,62}$")]
Cidr = Annotated[str, StringConstraints(min_length=3, max_length=64, strip_whitespace=True)]
Address = Annotated[str, StringConstraints(min_length=2, max_length=45, strip_whitespace=True)]
# pve-bridge-id; Linux interface names are at most 15 characters.
Bridge = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,14}$")]
Vlan = Annotated[int, Field(ge=1, le=4094, description="802.1Q tag of net0 (PVE's `tag`)")]
Exclusion = Annotated[str, StringConstraints(min_length=2, max_length=100, strip_whitespace=True)]
Label = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
Domain = rf"{Label}(\.{Label})*"
SearchDomain = Annotated[
    str, StringConstraints(max_length=253, strip_whitespace=True, pattern=rf"^{Domain}( {Domain})*$")
]
DnsServers = Annotated[list[Address], Field(max_length=8, description="Name servers VMs get (IPv4 or IPv6)")]
Nodes = Annotated[list[NodeName], Field(min_length=1, max_length=64, description="Configured nodes the pool serves")]
Excluded = Annotated[
    list[Exclusion],
    Field(max_length=256, description="Never handed out: `10.0.0.5`, `10.0.0.10-10.0.0.20` or `10.0.0.128/28`"),
]


def _addresses(values: list[str] | None) -> list[str] | None:
    if values is None:
        return None
    for value in values:
        ipaddress.ip_address(value)  # ValueError -> 422 naming the value
    return list(dict.fromkeys(values))


class PoolCreate(PoolSpec):
    """A new pool: a subnet (IPv4 or IPv6), its gateway and DNS, the bridge and VLAN it lives on, the nodes it
    serves. The network address, the IPv4 broadcast address and the gateway are never handed out."""

    model_config = ConfigDict(extra="forbid")

    name: PoolName
    cidr: Cidr = Field(description="The subnet, e.g. 10.0.10.0/24 or 2001:db8:10::/64")
    gateway: Address | None = Field(default=None, description="Inside the subnet")
    dns_servers: DnsServers = []
    search_domain: SearchDomain | None = None
    bridge: Bridge = "vmbr0"
    vlan: Vlan | None = None
    nodes: Nodes
    excluded: Excluded = []

    _dns = field_validator("dns_servers")(_addresses)

    @field_validator("nodes")
    @classmethod
    def _unique(cls, nodes: list[str]) -> list[str]:
        return list(dict.fromkeys(nodes))


class PoolUpdate(PoolChanges):
    """Changes to a pool; fields left out stay. Addresses already handed out must stay inside it (409)."""

    model_config = ConfigDict(extra="forbid")

    cidr: Cidr | None = None
    gateway: Address | None = None
    dns_servers: DnsServers | None = None
    search_domain: SearchDomain | None = None
    bridge: Bridge | None = None
    vlan: Vlan | None = None
    nodes: Nodes | None = None
    excluded: Excluded | None = None

    _dns = field_validator("dns_servers")(_addresses)


class PoolRead(BaseModel):
    """A pool, how many addresses it can hand out and how many it has (with which VM holds each, for one pool)."""

    name: str
    cidr: str
    gateway: str | None
    dns_servers: list[str]
    search_domain: str | None
    bridge: str
    vlan: int | None
    nodes: list[str]
    excluded: list[str]
    capacity: int = Field(description="Addresses it can hand out in all")
    used: int
    free: int
    addresses: dict[str, int] | None = Field(default=None, description="Address -> VMID holding it")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, usage: PoolUsage) -> PoolRead:
        """The view of a pool and its usage."""
        pool = usage.pool
        return cls(
            name=pool.name, cidr=pool.cidr, gateway=pool.gateway, dns_servers=pool.dns_servers,
            search_domain=pool.search_domain, bridge=pool.bridge, vlan=pool.vlan, nodes=pool.nodes,
            excluded=pool.excluded, capacity=usage.capacity, used=usage.used, free=usage.capacity - usage.used,
            addresses=usage.addresses, created_at=pool.created_at, updated_at=pool.updated_at,
        )  # fmt: skip
