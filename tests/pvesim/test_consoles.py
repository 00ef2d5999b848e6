"""vncproxy, termproxy and spiceproxy answers."""

from __future__ import annotations

import re
from typing import Any

import pytest
from proxmoxer.tools import Tasks

from tests.pvesim.pvesim_helpers import pve_error, wait


@pytest.fixture
def running(px: Any) -> Any:
    """Return a running clone 101 on sv1."""
    wait(px, px.nodes("sv1").qemu(9000).clone.post(newid=101, name="desk"))
    vm = px.nodes("sv1").qemu(101)
    wait(px, vm.status.start.post())
    return vm


def test_vncproxy(running: Any) -> None:
    data = running.vncproxy.post(websocket=1)
    assert set(data) == {"user", "ticket", "port", "upid", "cert", "password"}
    assert data["ticket"].startswith(data["password"] + ":PVEVNC:")  # qemu-server 9.1.7's compatibility prefix
    assert isinstance(data["port"], str)
    assert 5900 <= int(data["port"]) <= 5999
    assert len(data["password"]) == 8
    assert data["cert"].startswith("-----BEGIN CERTIFICATE-----")
    assert Tasks.decode_upid(data["upid"])["type"] == "vncproxy"
    assert data["user"] == "root@pam"


def test_termproxy(running: Any) -> None:
    data = running.termproxy.post(serial="serial0")
    assert set(data) == {"user", "ticket", "port", "upid"}
    assert data["ticket"].startswith("PVEVNC:")
    pve_error(lambda: running.termproxy.post(serial="serial1"), 500, "serial interface 'serial1' is not configured")


def test_spiceproxy(px: Any, running: Any) -> None:
    running.config.put(vga="qxl")  # a SPICE display (QemuServer.pm vga_conf_has_spice), pending until a reboot
    wait(px, running.status.reboot.post())
    data = running.spiceproxy.post(proxy="pve.example.com")
    assert data["type"] == "spice"
    assert re.fullmatch(r"pvespiceproxy:[0-9A-F]{8}:101:sv1::[0-9a-f]{40}", data["host"])
    assert data["proxy"] == "http://pve.example.com:3128"
    assert isinstance(data["tls-port"], int)
    assert re.fullmatch(r"[0-9a-f]{40}", data["password"])
    assert data["title"] == "VM 101 - desk"
    assert data["delete-this-file"] == 1
    assert "\\n" in data["ca"]
    assert {"secure-attention", "toggle-fullscreen", "release-cursor", "host-subject"} <= set(data)


@pytest.mark.parametrize("vga", ["std", "virtio", "serial0", None])
def test_spiceproxy_without_a_spice_display_has_no_port(px: Any, running: Any, vga: str | None) -> None:
    if vga is not None:
        running.config.put(vga=vga)
        wait(px, running.status.reboot.post())
    pve_error(lambda: running.spiceproxy.post(), 500, "no spice port")


def test_spice_needs_a_running_vm_vnc_does_not(px: Any) -> None:
    wait(px, px.nodes("sv1").qemu(9000).clone.post(newid=101))
    vm = px.nodes("sv1").qemu(101)
    pve_error(lambda: vm.spiceproxy.post(), 500, "VM 101 not running")
    assert vm.vncproxy.post(websocket=1)["port"]  # qemu-server: "vncproxy: remove check if VM is running"
    assert vm.termproxy.post()["port"]
    pve_error(
        lambda: px.nodes("sv1").qemu(555).vncproxy.post(),
        500,
        "Configuration file 'nodes/sv1/qemu-server/555.conf' does not exist",
    )
