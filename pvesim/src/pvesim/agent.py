"""The simulated guest: what its QEMU guest agent reports (QGA `guest-network-get-interfaces`) and its DHCP lease.

Shapes from the QGA schema (`GuestNetworkInterface`, `GuestIpAddress`, `GuestNetworkInterfaceStat`); the guest names
its NICs eth0, eth1… as the nocloud network config PVE generates does (QemuServer/Cloudinit.pm).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from pvesim.cluster import Cluster, Vm

NET_KEY = re.compile(r"^net(\d+)$")
MAC_RE = re.compile(r"(?:^|,)(?:[a-z0-9]+)=([0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5})(?:,|$)")
BYTES_PER_SECOND = 1500


def _options(value: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in value.split(",") if "=" in part)


def _mac(net: str) -> str | None:
    """The MAC of a `netN` value: `virtio=BC:24:11:..,bridge=…` or `macaddr=…`."""
    options = _options(net)
    if "macaddr" in options:
        return options["macaddr"].upper()
    match = MAC_RE.search(net)
    return match.group(1).upper() if match else None


def _address(text: str, kind: str) -> dict[str, Any]:
    interface = ipaddress.ip_interface(text)
    return {"ip-address": str(interface.ip), "ip-address-type": kind, "prefix": interface.network.prefixlen}


def _link_local(mac: str) -> str:
    """The EUI-64 IPv6 link-local address a Linux guest derives from its MAC (RFC 4291 appendix A)."""
    octets = [int(part, 16) for part in mac.split(":")]
    octets[0] ^= 0x02
    eui = [*octets[:3], 0xFF, 0xFE, *octets[3:]]
    groups = [f"{eui[i] << 8 | eui[i + 1]:x}" for i in range(0, 8, 2)]
    return str(ipaddress.IPv6Address("fe80::" + ":".join(groups)))


def dhcp_lease(cluster: Cluster, mac: str) -> str:
    """The address the simulated DHCP server gives this MAC: the same one every time, never two MACs the same."""
    leased = cluster.dhcp_leases.get(mac)
    if leased is not None:
        return leased
    network = ipaddress.ip_network(cluster.config.dhcp_network)
    taken = set(cluster.dhcp_leases.values())
    for host in network.hosts():
        if int(host) - int(network.network_address) < 10:  # leave the first addresses to the router
            continue
        text = f"{host}/{network.prefixlen}"
        if text not in taken:
            cluster.dhcp_leases[mac] = text
            return text
    raise RuntimeError(f"the simulated DHCP network {network} is full")


def _statistics(vm: Vm, index: int) -> dict[str, int]:
    received = vm.uptime() * BYTES_PER_SECOND * (index + 1)
    return {
        "rx-bytes": received, "rx-packets": received // 1000, "rx-errs": 0, "rx-dropped": 0,
        "tx-bytes": received // 2, "tx-packets": received // 2000, "tx-errs": 0, "tx-dropped": 0,
    }  # fmt: skip


def _nic(cluster: Cluster, vm: Vm, index: int, net: str) -> dict[str, Any] | None:
    mac = _mac(net)
    if mac is None:
        return None
    addresses: list[dict[str, Any]] = []
    ipconfig = _options(str(vm.config.get(f"ipconfig{index}", "")))
    ip, ip6 = ipconfig.get("ip"), ipconfig.get("ip6")
    if ip is None and ip6 is None:  # neither set: both DHCP (QemuServer/Cloudinit.pm parse_ipconfig)
        ip = "dhcp"
    if ip == "dhcp":
        addresses.append(_address(dhcp_lease(cluster, mac), "ipv4"))
    elif ip not in (None, "manual"):
        addresses.append(_address(ip, "ipv4"))
    if ip6 not in (None, "dhcp", "auto", "manual"):
        addresses.append(_address(ip6, "ipv6"))
    addresses.append({"ip-address": _link_local(mac), "ip-address-type": "ipv6", "prefix": 64})
    return {
        "name": f"eth{index}",
        "hardware-address": mac.lower(),
        "ip-addresses": addresses,
        "statistics": _statistics(vm, index),
    }


def network_interfaces(cluster: Cluster, vm: Vm) -> list[dict[str, Any]]:
    """What `guest-network-get-interfaces` returns inside this VM: `lo`, then one entry per NIC."""
    loopback = {
        "name": "lo",
        "hardware-address": "00:00:00:00:00:00",
        "ip-addresses": [
            {"ip-address": "127.0.0.1", "ip-address-type": "ipv4", "prefix": 8},
            {"ip-address": "::1", "ip-address-type": "ipv6", "prefix": 128},
        ],
        "statistics": _statistics(vm, 0),
    }
    nics = []
    for key in sorted((k for k in vm.config if NET_KEY.match(k)), key=lambda k: int(k[3:])):
        nic = _nic(cluster, vm, int(key[3:]), str(vm.config[key]))
        if nic is not None:
            nics.append(nic)
    return [loopback, *nics]
