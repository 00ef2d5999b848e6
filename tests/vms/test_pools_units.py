"""Unit tests of the pool arithmetic and the cloud-init values an address gives."""

from __future__ import annotations

import pytest

from cloudfaster.core.errors import ValidationFailedError
from cloudfaster.db.models import IpPool
from cloudfaster.vms.ipnet import PoolNetwork
from cloudfaster.vms.pools import network_record, with_bridge


def test_first_free_skips_reserved_excluded_and_used_addresses() -> None:
    net = PoolNetwork.parse("10.0.0.0/29", "10.0.0.1", ["10.0.0.3", "10.0.0.5-10.0.0.5"])
    assert net.capacity == 8 - 3 - 2  # network, broadcast, gateway; two excluded
    assert net.first_free([]) == "10.0.0.2"
    assert net.first_free(["10.0.0.2"]) == "10.0.0.4"
    assert net.first_free(["10.0.0.2", "10.0.0.4", "10.0.0.6"]) is None
    assert not net.allocatable("10.0.0.7")  # broadcast
    assert not net.allocatable("10.0.1.2")


def test_a_huge_ipv6_pool_costs_nothing() -> None:
    net = PoolNetwork.parse("2001:db8::/48", "2001:db8::1", ["2001:db8::/64"])
    assert net.capacity == 2**80 - 2**64  # the network address and the gateway are inside the exclusion
    assert net.first_free([]) == "2001:db8:0:1::"


@pytest.mark.parametrize(
    ("cidr", "gateway", "excluded", "field"),
    [
        ("10.0.0.1/24", None, [], "cidr"),
        ("10.0.0.0/32", None, [], "cidr"),
        ("10.0.0.0/24", "10.0.0.0", [], "gateway"),
        ("10.0.0.0/24", "10.0.1.1", [], "gateway"),
        ("10.0.0.0/24", None, ["10.0.0.0/16"], "excluded"),
        ("10.0.0.0/24", None, ["2001:db8::1"], "excluded"),
    ],
)
def test_bad_networks_name_their_field(cidr: str, gateway: str | None, excluded: list[str], field: str) -> None:
    with pytest.raises(ValidationFailedError) as info:
        PoolNetwork.parse(cidr, gateway, excluded)
    assert info.value.details == {"field": field}


def test_cloud_init_values_of_an_ipv4_and_an_ipv6_pool() -> None:
    v4 = IpPool(name="v4", cidr="10.0.0.0/24", gateway="10.0.0.1", dns_servers=["10.0.0.53"], search_domain="lab",
                bridge="vmbr1", vlan=7, nodes=["pve1"], excluded=[])  # fmt: skip
    v6 = IpPool(name="v6", cidr="2001:db8::/64", gateway=None, dns_servers=["2001:db8::53", "10.0.0.53"],
                search_domain=None, bridge="vmbr1", vlan=7, nodes=["pve1"], excluded=[])  # fmt: skip
    record = network_record([(v6, "2001:db8::2"), (v4, "10.0.0.2")])
    assert record["config"] == {
        "ipconfig0": "ip=10.0.0.2/24,gw=10.0.0.1,ip6=2001:db8::2/64",
        "nameserver": "10.0.0.53 2001:db8::53",
        "searchdomain": "lab",
    }
    assert network_record([(v6, "2001:db8::2")])["config"]["ipconfig0"] == "ip=dhcp,ip6=2001:db8::2/64"
    assert network_record([])["config"] == {"ipconfig0": "ip=dhcp"}
    assert with_bridge("virtio=BC:24:11:00:00:01,bridge=vmbr0,tag=3,firewall=1", "vmbr1", None) == (
        "virtio=BC:24:11:00:00:01,firewall=1,bridge=vmbr1"
    )
