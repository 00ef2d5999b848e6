"""The arithmetic of an IP pool: which addresses of a subnet may be handed out, how many, and the first free one.

Addresses are compared as integers (``ipaddress``), and excluded addresses as merged ranges, so that a /64 costs no
more than a /24: nothing here enumerates a subnet.
"""

from __future__ import annotations

import bisect
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from cloudfaster.core.errors import ValidationFailedError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# The smallest subnets that still have addresses to hand out besides the reserved ones.
MAX_PREFIX = {4: 30, 6: 126}
MAX_EXCLUDED = 256


def _invalid(field: str, message: str) -> ValidationFailedError:
    return ValidationFailedError(f"{field}: {message}", code="invalid_pool", details={"field": field})


def _merge(ranges: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return tuple(merged)


@dataclass(frozen=True, slots=True)
class PoolNetwork:
    """A pool's subnet, gateway and the ranges never handed out (the given exclusions plus the network address,
    the IPv4 broadcast address and the gateway)."""

    network: IPNetwork
    gateway: IPAddress | None
    blocked: tuple[tuple[int, int], ...]  # merged, sorted, inclusive integer ranges

    @classmethod
    def parse(cls, cidr: str, gateway: str | None, excluded: Iterable[str]) -> PoolNetwork:
        """Check a pool's network values (422 ``invalid_pool`` naming the field) and compute what is blocked."""
        try:
            network = ipaddress.ip_network(cidr, strict=True)
        except ValueError as exc:
            raise _invalid("cidr", f"{cidr!r} is not a network address with a prefix ({exc})") from None
        if network.prefixlen > MAX_PREFIX[network.version]:
            raise _invalid("cidr", f"a /{network.prefixlen} has no addresses to hand out")
        blocked = [(int(network.network_address), int(network.network_address))]
        if network.version == 4:
            blocked.append((int(network.broadcast_address), int(network.broadcast_address)))
        gw = None
        if gateway is not None:
            gw = _address_in(network, gateway, "gateway")
            if int(gw) in (blocked[0][0], blocked[-1][0]):
                raise _invalid("gateway", f"{gateway} is the subnet's network or broadcast address")
            blocked.append((int(gw), int(gw)))
        entries = list(excluded)
        if len(entries) > MAX_EXCLUDED:
            raise _invalid("excluded", f"at most {MAX_EXCLUDED} entries (use ranges)")
        blocked += [_range_in(network, entry) for entry in entries]
        return cls(network, gw, _merge(blocked))

    @property
    def version(self) -> int:
        """4 or 6."""
        return self.network.version

    @property
    def prefix(self) -> int:
        """The prefix length VMs get with their address."""
        return self.network.prefixlen

    @property
    def capacity(self) -> int:
        """How many addresses can be handed out in all."""
        return self.network.num_addresses - sum(end - start + 1 for start, end in self.blocked)

    def allocatable(self, address: str) -> bool:
        """Whether ``address`` is inside the subnet and not blocked."""
        value = ipaddress.ip_address(address)
        return value in self.network and not self._blocked_range(int(value))

    def _blocked_range(self, value: int) -> tuple[int, int] | None:
        index = bisect.bisect_right(self.blocked, (value, 2**128)) - 1
        if index >= 0 and self.blocked[index][0] <= value <= self.blocked[index][1]:
            return self.blocked[index]
        return None

    def first_free(self, used: Iterable[str]) -> str | None:
        """The lowest address neither blocked nor in ``used``; None when the pool is exhausted."""
        taken = {int(ipaddress.ip_address(address)) for address in used}
        candidate, last = int(self.network.network_address), int(self.network[-1])
        while candidate <= last:
            blocked = self._blocked_range(candidate)
            if blocked is not None:
                candidate = blocked[1] + 1
            elif candidate in taken:
                candidate += 1
            else:
                return str(ipaddress.ip_address(candidate))
        return None


def _address_in(network: IPNetwork, text: str, field: str) -> IPAddress:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        raise _invalid(field, f"{text!r} is not an IP address") from None
    if address.version != network.version or address not in network:
        raise _invalid(field, f"{text} is not inside {network}")
    return address


def _range_in(network: IPNetwork, entry: str) -> tuple[int, int]:
    """An exclusion: one address, ``first-last``, or a subnet inside the pool's."""
    if "/" in entry:
        try:
            sub = ipaddress.ip_network(entry.strip(), strict=True)
        except ValueError:
            raise _invalid("excluded", f"{entry!r} is not a network address with a prefix") from None
        if sub.version != network.version or not sub.subnet_of(network):  # type: ignore[arg-type]
            raise _invalid("excluded", f"{entry} is not inside {network}")
        return int(sub.network_address), int(sub[-1])
    first, _, last = entry.partition("-")
    start = _address_in(network, first, "excluded")
    end = _address_in(network, last, "excluded") if last else start
    if int(end) < int(start):
        raise _invalid("excluded", f"{entry}: the range ends before it starts")
    return int(start), int(end)
