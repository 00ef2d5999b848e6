"""The guest agent endpoints: addresses as QGA reports them, and PVE's refusals in PVE's order."""

from __future__ import annotations

import ipaddress
import time
from typing import Any

import pytest
from pvesim.config import SimConfig, TemplateSpec
from pvesim.testing import PveSim, start_pvesim

from tests.pvesim.pvesim_helpers import pve_error, raw, wait


def clone_and_start(px: Any, newid: int = 101, template: int = 9000, **config: Any) -> Any:
    """Clone a template to ``newid`` on sv1, set ``config``, start it; return the proxmoxer VM resource."""
    wait(px, px.nodes("sv1").qemu(template).clone.post(newid=newid, name=f"vm{newid}"))
    vm = px.nodes("sv1").qemu(newid)
    if config:
        vm.config.put(**config)
    wait(px, vm.status.start.post())
    return vm


def by_name(interfaces: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Interfaces keyed by name."""
    return {nic["name"]: nic for nic in interfaces}


def test_a_static_address_from_cloud_init_is_what_the_agent_reports(px: Any, sim: PveSim) -> None:
    vm = clone_and_start(
        px, ipconfig0="ip=10.0.10.123/24,gw=10.0.10.1,ip6=2001:db8::7/64,gw6=2001:db8::1", nameserver="1.1.1.1"
    )
    result = vm.agent("network-get-interfaces").get()["result"]
    nics = by_name(result)
    assert list(nics) == ["lo", "eth0"]
    assert nics["lo"]["hardware-address"] == "00:00:00:00:00:00"
    assert {"ip-address": "127.0.0.1", "ip-address-type": "ipv4", "prefix": 8} in nics["lo"]["ip-addresses"]
    eth0 = nics["eth0"]
    mac = sim.cluster.vms[101].config["net0"].split(",")[0].split("=")[1]
    assert eth0["hardware-address"] == mac.lower()
    addresses = {(a["ip-address"], a["ip-address-type"], a["prefix"]) for a in eth0["ip-addresses"]}
    assert ("10.0.10.123", "ipv4", 24) in addresses
    assert ("2001:db8::7", "ipv6", 64) in addresses
    assert any(ipaddress.ip_address(a).is_link_local for a, kind, _ in addresses if kind == "ipv6")
    assert set(eth0["statistics"]) == {
        "rx-bytes", "rx-packets", "rx-errs", "rx-dropped", "tx-bytes", "tx-packets", "tx-errs", "tx-dropped",
    }  # fmt: skip
    assert all(isinstance(value, int) for value in eth0["statistics"].values())


def test_a_dhcp_vm_gets_a_stable_lease_of_its_own(px: Any) -> None:
    first = clone_and_start(px, 101, ipconfig0="ip=dhcp")
    second = clone_and_start(px, 102)  # no ipconfig0 at all: DHCP too (Cloudinit.pm parse_ipconfig)

    def lease(vm: Any) -> str:
        eth0 = by_name(vm.agent("network-get-interfaces").get()["result"])["eth0"]
        (address,) = [a["ip-address"] for a in eth0["ip-addresses"] if a["ip-address-type"] == "ipv4"]
        return str(address)

    one, two = lease(first), lease(second)
    assert one != two
    assert ipaddress.ip_address(one) in ipaddress.ip_network("10.200.0.0/16")
    assert lease(first) == one  # the same lease on every call


def test_ping_answers_an_empty_result(px: Any, sim: PveSim) -> None:
    vm = clone_and_start(px)
    assert vm.agent.ping.post() == {"result": {}}
    assert raw(sim, "POST", "/nodes/sv1/qemu/101/agent/ping").json() == {"data": {"result": {}}}


def test_refusals_come_in_pves_order(px: Any, sim: PveSim) -> None:
    missing = px.nodes("sv1").qemu(555)
    pve_error(
        lambda: missing.agent.ping.post(), 500, "Configuration file 'nodes/sv1/qemu-server/555.conf' does not exist"
    )
    wait(px, px.nodes("sv1").qemu(9000).clone.post(newid=101))
    vm = px.nodes("sv1").qemu(101)
    vm.config.put(delete="agent")
    # No `agent` key: refused before the power state is looked at.
    pve_error(lambda: vm.agent.ping.post(), 500, "No QEMU guest agent configured")
    vm.config.put(agent="0")
    pve_error(lambda: vm.agent("network-get-interfaces").get(), 500, "VM 101 is not running")
    wait(px, vm.status.start.post())
    # `agent: 0`: QEMU has no agent socket, so the ping fails (QemuServer/Agent.pm assert_agent_available).
    pve_error(lambda: vm.agent.ping.post(), 500, "QEMU guest agent is not running")
    vm.config.put(agent="enabled=1,fstrim_cloned_disks=1")
    wait(px, vm.status.reboot.post())
    assert vm.agent.ping.post() == {"result": {}}
    sim.faults.set_agent_down(101)
    pve_error(lambda: vm.agent("network-get-interfaces").get(), 500, "QEMU guest agent is not running")
    sim.faults.set_agent_down(101, down=False)
    wait(px, vm.status.suspend.post())
    pve_error(lambda: vm.agent.ping.post(), 500, "QEMU guest agent is not running")


def test_the_agent_is_not_up_for_a_while_after_start() -> None:
    config = SimConfig.fast()
    config.agent_start_delay = 0.6
    with start_pvesim(config) as sim:
        px = sim.proxmox()
        vm = clone_and_start(px)
        pve_error(lambda: vm.agent.ping.post(), 500, "QEMU guest agent is not running")
        time.sleep(0.7)
        assert vm.agent.ping.post() == {"result": {}}


@pytest.mark.parametrize(("agent", "expected"), [(None, "No QEMU guest agent configured"), ("0", None)])
def test_templates_carry_agent_1_unless_configured(agent: str | None, expected: str | None) -> None:
    config = SimConfig.fast()
    config.templates = [TemplateSpec(os="debian-12", node="sv1", vmid=9000, agent=agent)]
    default = TemplateSpec(os="debian-12", node="sv1", vmid=9000)
    assert default.agent == "1"
    with start_pvesim(config) as sim:
        assert sim.cluster.vms[9000].config.get("agent") == agent
        px = sim.proxmox()
        vm = clone_and_start(px)
        message = expected or "QEMU guest agent is not running"
        pve_error(lambda: vm.agent.ping.post(), 500, message)


def test_the_agent_of_a_vm_on_an_offline_node_is_595(px: Any, sim: PveSim) -> None:
    vm = clone_and_start(px)
    sim.faults.set_node_offline("sv1")
    resp = raw(sim, "GET", "/nodes/sv1/qemu/101/agent/network-get-interfaces")
    assert resp.status_code == 595
    assert vm is not None


def test_parameters_are_checked_against_the_schema(sim: PveSim) -> None:
    resp = raw(sim, "POST", "/nodes/sv1/qemu/101/agent/ping", data={"command": "ping"})
    assert resp.status_code == 400
    assert resp.json()["errors"] == {
        "command": "property is not defined in schema and the schema does not allow additional properties"
    }
