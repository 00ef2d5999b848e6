"""The console proxy: a one-time token, CloudFaster's websocket to PVE's console, and what never reaches a client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PIL import ImageChops
from pvesim.testing import PveSim
from sqlalchemy import update

from cloudfaster.db.base import utcnow
from cloudfaster.db.models import ConsoleTicket
from cloudfaster.vms.console import hash_token
from tests.support.rfb import RfbClient
from tests.vms.console_rig import ConsoleRig, console_rig, console_socket
from tests.vms.helpers import wait_op


@pytest.fixture
async def rig(sim: PveSim, tmp_path: Path, database_url: str) -> AsyncIterator[ConsoleRig]:
    """CloudFaster on 127.0.0.1 in front of pvesim (reached as `localhost`)."""
    async with console_rig(sim, tmp_path, database_url) as running:
        yield running


async def refused(link: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Open a link's websocket that must be refused; the HTTP status and error body."""
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await session.ws_connect(link["websocket_url"], protocols=("binary", link["websocket_protocol"]))
        resp = await session.get(link["websocket_url"].replace("ws://", "http://"))  # a plain GET is refused too
        assert resp.status in (400, 403, 404, 405, 426)
    return info.value.status, {}


async def test_the_console_shows_that_vms_screen(rig: ConsoleRig) -> None:
    alice = rig.api.as_key(await rig.api.new_user("alice"))
    vmid = await rig.vm(alice, "alpha")
    other = await rig.vm(alice, "beta")
    link = await rig.link(alice, vmid)
    assert link["type"] == "vnc"
    assert link["url"] == f"{rig.base_url}/console/{vmid}/vnc#token={link['token']}"
    assert link["websocket_url"] == f"{rig.base_url.replace('http', 'ws')}/console/{vmid}/ws"
    async with console_socket(link) as ws:
        client = RfbClient(ws)
        await client.handshake(None)
        assert client.security_types == [1]  # None: PVE's VNC password stays with CloudFaster
        assert client.name == "alpha"
        shot = await client.capture()
    assert shot.getextrema() != ((0, 0), (0, 0), (0, 0))
    assert ImageChops.difference(shot, rig.sim.expected_console(vmid)).getbbox() is None
    assert ImageChops.difference(shot, rig.sim.expected_console(other)).getbbox() is not None


async def test_nothing_of_proxmox_reaches_the_client(rig: ConsoleRig) -> None:
    alice = rig.api.as_key(await rig.api.new_user("alice"))
    vmid = await rig.vm(alice, "alpha")
    seen: list[bytes] = []
    for kind in ("vnc", "term"):
        resp = await rig.console(alice, vmid, kind)
        assert resp.status_code == 200, resp.text
        seen.append(resp.content + str(resp.headers).encode())
        async with console_socket(resp.json()) as ws:
            seen.append(str(ws._response.headers).encode())
            if kind == "vnc":
                client = RfbClient(ws)
                await client.handshake(None)
                seen.append(bytes(client.received))  # everything before the framebuffer
            else:
                seen.append(await ws.receive_bytes())
    secret = rig.sim.token_secret
    forbidden = ["localhost", f":{rig.sim.port}", str(rig.sim.port), rig.sim.token_id, "root@pam", "pam", secret,
                 secret[:8], "PVEVNC", "PVEAPIToken", "cloudfaster!"]  # fmt: skip
    for blob in seen:
        text = blob.decode("latin-1")
        for needle in forbidden:
            assert needle not in text, (needle, text[:300])


async def test_a_token_works_once(rig: ConsoleRig) -> None:
    alice = rig.api.as_key(await rig.api.new_user("alice"))
    vmid = await rig.vm(alice, "alpha")
    link = await rig.link(alice, vmid)
    async with console_socket(link) as ws:
        await RfbClient(ws).handshake(None)
    status, _ = await refused(link)
    assert status == 401


async def test_an_expired_token_is_refused(rig: ConsoleRig) -> None:
    alice = rig.api.as_key(await rig.api.new_user("alice"))
    vmid = await rig.vm(alice, "alpha")
    link = await rig.link(alice, vmid)
    async with rig.api.app.state.cf.instance.db.write() as session:
        await session.execute(
            update(ConsoleTicket)
            .where(ConsoleTicket.token_hash == hash_token(link["token"]))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert (await refused(link))[0] == 401


async def test_a_token_opens_only_its_own_vm(rig: ConsoleRig) -> None:
    alice = rig.api.as_key(await rig.api.new_user("alice"))
    bob = rig.api.as_key(await rig.api.new_user("bob"))
    mine = await rig.vm(alice, "alpha")
    theirs = await rig.vm(bob, "bobs")
    link = await rig.link(alice, mine)
    elsewhere = dict(link, websocket_url=link["websocket_url"].replace(f"/{mine}/", f"/{theirs}/"))
    assert (await refused(elsewhere))[0] == 403
    assert (await rig.console(alice, theirs)).status_code == 404  # and no token for another user's VM
    assert (await refused(dict(link, websocket_protocol="cloudfaster-token.made-up")))[0] == 401
    assert (await refused(dict(link, websocket_protocol="other")))[0] == 401


async def test_a_vm_deleted_meanwhile_is_refused(rig: ConsoleRig) -> None:
    alice = rig.api.as_key(await rig.api.new_user("alice"))
    vmid = await rig.vm(alice, "alpha")
    link = await rig.link(alice, vmid)
    resp = await rig.api.client.delete(f"/vm/{vmid}", headers=alice)
    await wait_op(rig.api, alice, resp.headers["Location"])
    assert (await refused(link))[0] == 404


async def test_a_stopped_vm_has_no_console(rig: ConsoleRig) -> None:
    alice = rig.api.as_key(await rig.api.new_user("alice"))
    vmid = await rig.vm(alice, "alpha")
    resp = await rig.api.client.post(f"/vm/{vmid}/stop?wait=30", headers=alice)
    assert resp.status_code in (200, 202), resp.text
    for kind in ("vnc", "term"):
        resp = await rig.console(alice, vmid, kind)
        assert resp.status_code == 409
        assert resp.json()["error"]["code"] == "vm_not_running"


async def test_the_serial_console_goes_through_the_same_proxy(rig: ConsoleRig) -> None:
    alice = rig.api.as_key(await rig.api.new_user("alice"))
    vmid = await rig.vm(alice, "alpha")
    link = await rig.link(alice, vmid, "term")
    assert link["url"].startswith(f"{rig.base_url}/console/{vmid}/term#token=")
    async with console_socket(link) as ws:
        text = b""
        while b"login: " not in text:
            text += await asyncio.wait_for(ws.receive_bytes(), 10)
        assert b"alpha (VM %d)" % vmid in text
        assert not text.startswith(b"OK")  # termproxy's answer to CloudFaster's login line stays with CloudFaster
        await ws.send_str("0:5:root\r")
        assert await asyncio.wait_for(ws.receive_bytes(), 10) == b"root\r\n"
