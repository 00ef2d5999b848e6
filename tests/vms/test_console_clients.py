"""Real clients through CloudFaster's console proxy: noVNC in Chromium, and vncdotool, a second VNC client."""

from __future__ import annotations

import asyncio
import base64
import io
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageChops
from playwright.async_api import Route, async_playwright
from pvesim.testing import PveSim

from tests.support.rig import require
from tests.support.wsbridge import tcp_to_websocket
from tests.vms.console_rig import ConsoleRig, console_rig

CHROMIUM = "/usr/bin/chromium"
CANVAS_PNG = "() => { const c = document.querySelector('#screen canvas'); return c && c.width ? c.toDataURL() : null; }"


@pytest.fixture
async def rig(sim: PveSim, tmp_path: Path, database_url: str) -> AsyncIterator[ConsoleRig]:
    """CloudFaster on 127.0.0.1 in front of pvesim."""
    async with console_rig(sim, tmp_path, database_url) as running:
        yield running


def same(a: Image.Image, b: Image.Image) -> bool:
    """Pixel for pixel equal."""
    return a.size == b.size and ImageChops.difference(a.convert("RGB"), b.convert("RGB")).getbbox() is None


async def test_novnc_in_chromium_shows_that_vms_console(rig: ConsoleRig) -> None:
    require(os.access(CHROMIUM, os.X_OK), "Chromium (/usr/bin/chromium)")
    alice = rig.api.as_key(await rig.api.new_user("alice"))
    vmid = await rig.vm(alice, "alpha")
    other = await rig.vm(alice, "beta")
    link = await rig.link(alice, vmid)
    blocked: list[str] = []
    sockets: list[str] = []
    local_ws = rig.base_url.replace("http://", "ws://")

    async def guard(route: Route) -> None:  # every request off CloudFaster is aborted and recorded
        if route.request.url.startswith(rig.base_url):
            await route.continue_()
        else:
            blocked.append(route.request.url)
            await route.abort()

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM)
        try:
            # bypass_csp: Playwright's own waits evaluate strings, which the page's CSP forbids to page scripts.
            context = await browser.new_context(
                service_workers="block", viewport={"width": 1000, "height": 700}, bypass_csp=True
            )
            await context.route("**/*", guard)
            page = await context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            # Playwright's route_web_socket proxies even the sockets it lets through (and broke RFB here): websockets
            # are recorded instead, and every one must be CloudFaster's.
            page.on("websocket", lambda ws: sockets.append(ws.url))
            await page.goto(link["url"])
            # Until it leaves "connecting" (a loaded 2-core machine can take its time); then it must be connected.
            settled = "window.consoleState && window.consoleState !== 'connecting'"
            await page.wait_for_function(settled, timeout=45_000)
            assert await page.evaluate("window.consoleState") == "connected", await page.text_content("#state")
            expected = rig.sim.expected_console(vmid)
            shot: Image.Image | None = None
            deadline = time.monotonic() + 20  # the first update may still be drawing (slowly on a loaded machine)
            while time.monotonic() < deadline:
                data = await page.evaluate(CANVAS_PNG)
                if data:
                    shot = Image.open(io.BytesIO(base64.b64decode(data.split(",", 1)[1])))
                    if same(shot, expected):
                        break
                await asyncio.sleep(0.05)
            assert shot is not None
            assert shot.convert("RGB").getextrema() != ((0, 0), (0, 0), (0, 0))  # not blank
            assert same(shot, expected)
            assert not same(shot, rig.sim.expected_console(other))
            assert await page.text_content("#title") == f"alpha (VM {vmid})"
            assert await page.evaluate("location.hash") == ""  # the one-time token left the address bar
            await page.click("#toggle")
            await page.wait_for_function("window.consoleState === 'disconnected'")
            assert await page.text_content("#toggle") == "Reconnect"
        finally:
            await browser.close()
    assert blocked == []
    assert sockets == [f"{local_ws}/console/{vmid}/ws"]
    assert errors == []


async def test_vncdotool_captures_the_same_framebuffer(rig: ConsoleRig, tmp_path: Path) -> None:
    from vncdotool import api as vncdo

    alice = rig.api.as_key(await rig.api.new_user("alice"))
    vmid = await rig.vm(alice, "alpha")
    link = await rig.link(alice, vmid)
    shot_file = tmp_path / "shot.png"

    def capture(port: int) -> None:
        client: Any = vncdo.connect(f"127.0.0.1::{port}", password=None, timeout=20)
        try:
            client.captureScreen(str(shot_file))
        finally:
            client.disconnect()

    async with tcp_to_websocket(link["websocket_url"], ("binary", link["websocket_protocol"])) as port:
        try:
            await asyncio.to_thread(capture, port)
        finally:
            await asyncio.to_thread(vncdo.shutdown)
    assert same(Image.open(shot_file), rig.sim.expected_console(vmid))
