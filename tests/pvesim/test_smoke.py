"""The testing contract: start_pvesim and a real proxmoxer client over verified HTTPS."""

from __future__ import annotations

import asyncio
from typing import Any

from proxmoxer.tools import Tasks
from pvesim.testing import PveSim, start_pvesim


def test_contract_attributes(sim: PveSim) -> None:
    assert sim.host == "127.0.0.1"
    assert isinstance(sim.port, int)
    assert sim.port > 0
    assert sim.ca_file.read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert sim.token_id == "root@pam!cloudfaster"
    assert set(sim.cluster.nodes) == {"sv1", "sv2", "sv3", "sv4", "sv5"}


def test_clone_and_start_through_proxmoxer(px: Any) -> None:
    upid = px.nodes("sv1").qemu(9000).clone.post(newid=150, name="web1")
    assert Tasks.decode_upid(upid)["type"] == "qmclone"
    status = Tasks.blocking_status(px, upid, timeout=5, polling_interval=0.05)
    assert status["exitstatus"] == "OK"
    upid = px.nodes("sv1").qemu(150).status.start.post()
    assert Tasks.blocking_status(px, upid, timeout=5, polling_interval=0.05)["exitstatus"] == "OK"
    assert px.nodes("sv1").qemu(150).status.current.get()["status"] == "running"


def test_stops_and_frees_the_port() -> None:
    with start_pvesim() as first:
        port = first.port
        assert first.proxmox().version.get()["release"]
    import socket

    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0


async def test_usable_from_an_async_test() -> None:
    with start_pvesim() as sim:
        px = sim.proxmox()
        version = await asyncio.to_thread(px.version.get)
        assert version["release"] == "9.1"
