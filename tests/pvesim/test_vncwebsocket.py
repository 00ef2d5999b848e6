"""vncwebsocket as PVE serves it: the checks, the upgrade, RFB 3.8 with VNC auth, and termproxy's protocol."""

from __future__ import annotations

import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from PIL import ImageChops
from pvesim.config import SimConfig
from pvesim.testing import PveSim, start_pvesim
from pvesim.vncauth import make_vnc_ticket

from tests.pvesim.pvesim_helpers import raw, wait
from tests.support.rfb import RfbAuthFailedError, RfbClient


def _ssl(sim: PveSim) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(sim.ca_file))


def _path(node: str, vmid: int, port: int | str, ticket: str) -> str:
    return f"/api2/json/nodes/{node}/qemu/{vmid}/vncwebsocket?port={port}&vncticket={quote(ticket, safe='')}"


@asynccontextmanager
async def websocket(sim: PveSim, path: str, **kwargs: Any) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    """Open the websocket with the API token, as CloudFaster does."""
    headers = {"Authorization": f"PVEAPIToken={sim.token_id}={sim.token_secret}", **kwargs.pop("headers", {})}
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(sim.base_url + path, headers=headers, ssl=_ssl(sim), **kwargs) as ws,
    ):
        yield ws


def clone(px: Any, vmid: int, name: str, *, start: bool = True) -> Any:
    """Clone the debian-12 template on sv1 into ``vmid`` and start it."""
    wait(px, px.nodes("sv1").qemu(9000).clone.post(newid=vmid, name=name))
    vm = px.nodes("sv1").qemu(vmid)
    if start:
        wait(px, vm.status.start.post())
    return vm


def task_status(px: Any, upid: str) -> dict[str, Any]:
    """The status of a task right now."""
    status: dict[str, Any] = px.nodes("sv1").tasks(upid).status.get()
    return status


async def test_vnc_console_shows_that_vms_screen(sim: PveSim, px: Any) -> None:
    clone(px, 101, "alpha")
    clone(px, 102, "beta")
    proxy = px.nodes("sv1").qemu(101).vncproxy.post(websocket=1)
    assert proxy["ticket"].startswith(proxy["password"] + ":PVEVNC:")
    async with websocket(sim, _path("sv1", 101, proxy["port"], proxy["ticket"])) as ws:
        client = RfbClient(ws)
        await client.handshake(proxy["password"])
        assert client.security_types == [2]  # QEMU with password=on: VNC Authentication only
        assert client.name == "alpha"
        assert (client.width, client.height) == (640, 400)
        shot = await client.capture()
    expected = sim.expected_console(101)
    assert ImageChops.difference(shot, expected).getbbox() is None
    assert shot.getextrema() != ((0, 0), (0, 0), (0, 0))  # not blank
    assert ImageChops.difference(expected, sim.expected_console(102)).getbbox() is not None
    assert wait(px, proxy["upid"])["exitstatus"] == "OK"


async def test_the_full_ticket_works_as_the_vnc_password(sim: PveSim, px: Any) -> None:
    clone(px, 101, "alpha")
    proxy = px.nodes("sv1").qemu(101).vncproxy.post(websocket=1)
    async with websocket(sim, _path("sv1", 101, proxy["port"], proxy["ticket"])) as ws:
        client = RfbClient(ws)
        await client.handshake(proxy["ticket"])  # only its first 8 bytes (the password) key the DES challenge
        assert client.name == "alpha"


async def test_a_wrong_password_fails_the_security_handshake(sim: PveSim, px: Any) -> None:
    clone(px, 101, "alpha")
    proxy = px.nodes("sv1").qemu(101).vncproxy.post(websocket=1)
    async with websocket(sim, _path("sv1", 101, proxy["port"], proxy["ticket"])) as ws:
        with pytest.raises(RfbAuthFailedError, match=r"^Authentication failed$"):
            await RfbClient(ws).handshake("wrong!!!")


async def test_a_stopped_vm_upgrades_then_closes(sim: PveSim, px: Any) -> None:
    clone(px, 101, "alpha", start=False)
    proxy = px.nodes("sv1").qemu(101).vncproxy.post(websocket=1)  # PVE does not check that the VM runs here
    async with websocket(sim, _path("sv1", 101, proxy["port"], proxy["ticket"])) as ws:
        with pytest.raises(EOFError):
            await RfbClient(ws).read_exactly(1)
    assert wait(px, proxy["upid"])["exitstatus"] == "Failed to run vncproxy."


@pytest.mark.parametrize(
    "change",
    ["port", "vmid", "user", "expired", "garbage"],
)
async def test_a_ticket_not_for_this_user_port_and_vm_is_401(sim: PveSim, px: Any, change: str) -> None:
    clone(px, 101, "alpha")
    clone(px, 102, "beta")
    proxy = px.nodes("sv1").qemu(101).vncproxy.post(websocket=1)
    port, vmid, ticket = int(proxy["port"]), 101, proxy["ticket"]
    secret = sim.simulator.cluster.secret
    if change == "port":
        port = 5999 if port != 5999 else 5998
    elif change == "vmid":
        vmid = 102
    elif change == "user":
        ticket = make_vnc_ticket(secret, "root@pam", "/vms/101", port)  # root@pam itself, not the token
    elif change == "expired":
        ticket = make_vnc_ticket(secret, sim.token_id, "/vms/101", port, now=time.time() - 41)
    else:
        ticket = "PVEVNC:00000000::bm90IGEgc2lnbmF0dXJl"
    headers = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}  # fmt: skip
    resp = raw(sim, "GET", _path("sv1", vmid, port, ticket)[len("/api2/json") :], headers=headers)
    assert resp.status_code == 401
    assert resp.reason == "permission denied - invalid PVEVNC ticket"
    assert resp.json() == {"data": None, "message": "permission denied - invalid PVEVNC ticket\n"}


def test_without_upgrade_it_is_a_plain_get(sim: PveSim, px: Any) -> None:
    clone(px, 101, "alpha")
    proxy = px.nodes("sv1").qemu(101).vncproxy.post(websocket=1)
    resp = raw(sim, "GET", _path("sv1", 101, proxy["port"], proxy["ticket"])[len("/api2/json") :])
    assert resp.status_code == 200
    assert resp.json() == {"data": {"port": proxy["port"]}}
    bad = raw(sim, "GET", _path("sv1", 101, 6000, proxy["ticket"])[len("/api2/json") :])
    assert bad.status_code == 400
    assert "port" in bad.json()["errors"]


async def test_the_protocol_header_is_echoed_whole_and_frames_are_binary(sim: PveSim, px: Any) -> None:
    clone(px, 101, "alpha")
    proxy = px.nodes("sv1").qemu(101).vncproxy.post(websocket=1)
    headers = {"Sec-WebSocket-Protocol": "binary, base64"}
    async with websocket(sim, _path("sv1", 101, proxy["port"], proxy["ticket"]), headers=headers) as ws:
        msg = await ws.receive()
        assert msg.type == aiohttp.WSMsgType.BINARY
        assert msg.data == b"RFB 003.008\n"
        assert ws._response.headers["Sec-WebSocket-Protocol"] == "binary, base64"


async def test_one_connection_per_proxy(sim: PveSim, px: Any) -> None:
    clone(px, 101, "alpha")
    proxy = px.nodes("sv1").qemu(101).vncproxy.post(websocket=1)
    path = _path("sv1", 101, proxy["port"], proxy["ticket"])
    async with websocket(sim, path) as ws:
        await RfbClient(ws).read_exactly(12)
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            async with websocket(sim, path):
                pass
        assert info.value.status == 500


async def test_a_proxy_nobody_connects_to_times_out() -> None:
    config = SimConfig.fast()
    config.console_accept_timeout = 0.3
    with start_pvesim(config) as sim:
        px = sim.proxmox()
        clone(px, 101, "alpha")
        proxy = px.nodes("sv1").qemu(101).vncproxy.post(websocket=1)
        assert task_status(px, proxy["upid"])["status"] == "running"
        status = wait(px, proxy["upid"])
        assert status["exitstatus"] == "connection timed out"
        with pytest.raises(aiohttp.WSServerHandshakeError):
            async with websocket(sim, _path("sv1", 101, proxy["port"], proxy["ticket"])):
                pass


async def test_termproxy_speaks_its_line_protocol(sim: PveSim, px: Any) -> None:
    clone(px, 101, "alpha")
    proxy = px.nodes("sv1").qemu(101).termproxy.post()
    assert not proxy["ticket"].startswith(proxy["ticket"][:8] + ":PVEVNC")
    async with websocket(sim, _path("sv1", 101, proxy["port"], proxy["ticket"])) as ws:
        await ws.send_str(f"{sim.token_id}:{proxy['ticket']}\n")
        client = RfbClient(ws)
        assert await client.read_exactly(2) == b"OK"
        banner = b""
        while b"login: " not in banner:
            banner += await ws.receive_bytes()
        assert b"alpha (VM 101)" in banner
        await ws.send_str("1:120:40:")
        await ws.send_str("2")
        await ws.send_str("0:5:root\r")
        assert await ws.receive_bytes() == b"root\r\n"
    assert wait(px, proxy["upid"])["exitstatus"] == "OK"


async def test_termproxy_refuses_a_wrong_first_line(sim: PveSim, px: Any) -> None:
    clone(px, 101, "alpha")
    proxy = px.nodes("sv1").qemu(101).termproxy.post()
    async with websocket(sim, _path("sv1", 101, proxy["port"], proxy["ticket"])) as ws:
        await ws.send_str(f"root@pam:{proxy['ticket']}\n")
        msg = await ws.receive()
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert wait(px, proxy["upid"])["exitstatus"] == "command '/usr/bin/termproxy' failed: exit code 1"
