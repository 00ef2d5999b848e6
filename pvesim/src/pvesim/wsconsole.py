"""The websocket behind `vncwebsocket`: PVE's upgrade checks, binary frames, then RFB or termproxy's protocol.

Sources (shared notes pve-behaviour-2.md §1b, §1c): pve-http-server AnyEvent.pm (`Upgrade`/`Sec-WebSocket-Version`/
`Sec-WebSocket-Key` checks with their 500 texts, the client's `Sec-WebSocket-Protocol` echoed verbatim, every
backend chunk of at most 128 KiB sent as one binary frame, client frames of at most 128 KiB); termproxy main.rs
(first line `<user>:<ticket>\\n` within 10 s, `OK`, then raw PTY output; client frames `0:<len>:<data>`,
`1:<cols>:<rows>:`, `2`); qm.pm `terminal` (`starting serial terminal on interface serialN`, `VM <vmid> not running`).
"""

from __future__ import annotations

import asyncio
import logging
import re

from aiohttp import WSMsgType, web

from pvesim.cluster import Vm
from pvesim.consoles import ConsoleProxy
from pvesim.errors import PveError
from pvesim.rfb import RfbSession
from pvesim.simulator import Simulator

log = logging.getLogger("pvesim.console")

FRAME_LIMIT = 128 * 1024
FIRST_LINE_TIMEOUT_S = 10.0
_TERM_FRAME = re.compile(rb"0:(\d+):|1:(\d+):(\d+):|2")
_TERM_PREFIX = re.compile(rb"0(:\d*)?|1(:\d*(:\d*)?)?")  # the start of a frame that has not fully arrived


class WsStream:
    """The bytes of a websocket: frames in, reassembled; bytes out, as binary frames of at most 128 KiB."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.buffer = bytearray()

    async def fill(self) -> None:
        """Append the next frame's payload to the buffer; EOFError once the client has closed."""
        msg = await self.ws.receive()
        if msg.type == WSMsgType.BINARY:
            self.buffer += msg.data
        elif msg.type == WSMsgType.TEXT:
            self.buffer += msg.data.encode()
        else:
            raise EOFError("websocket closed")

    async def read_exactly(self, size: int) -> bytes:
        """Return exactly `size` bytes."""
        while len(self.buffer) < size:
            await self.fill()
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    async def write(self, data: bytes) -> None:
        """Send `data` in binary frames."""
        for start in range(0, len(data), FRAME_LIMIT):
            await self.ws.send_bytes(data[start : start + FRAME_LIMIT])


def check_upgrade(request: web.Request) -> None:
    """Refuse a malformed websocket upgrade as pveproxy does (500 with its texts)."""
    upgrade = request.headers.get("Upgrade", "")
    if upgrade.lower() != "websocket":
        raise PveError(500, f"unable to upgrade to protocol '{upgrade}'")
    version = request.headers.get("Sec-WebSocket-Version", "")
    if version != "13":
        raise PveError(500, f"unsupported websocket-version '{version}'")
    if not request.headers.get("Sec-WebSocket-Key"):
        raise PveError(500, "missing websocket-key")


async def serve_console(sim: Simulator, port: int, request: web.Request) -> web.StreamResponse:
    """Connect to the proxy on `port`, upgrade, and serve its console until either side closes."""
    check_upgrade(request)
    proxy = sim.consoles.claim(port)
    if proxy is None:
        # pveproxy's tcp_connect to localhost:<port> fails (timed out, or its one connection was used) and it dies
        # before writing 101; what a client sees then is not verified against PVE.
        raise PveError(500, f"unable to connect to VNC proxy on port {port}")
    ws = web.WebSocketResponse(compress=False, max_msg_size=FRAME_LIMIT, autoping=True)
    protocol = request.headers.get("Sec-WebSocket-Protocol")
    if protocol is not None:
        ws.headers["Sec-WebSocket-Protocol"] = protocol  # echoed whole, not negotiated ("FIXME: remove protocol")
    error: str | None = None
    try:
        await ws.prepare(request)
        stream = WsStream(ws)
        vm = sim.cluster.vm_on(proxy.node, proxy.vmid)
        if proxy.kind == "vnc":
            error = await _vnc(stream, proxy, vm)
        else:
            error = await _terminal(stream, proxy, vm)
    except (EOFError, ConnectionError, asyncio.CancelledError) as exc:
        log.debug("console on port %s closed: %s", port, exc)
    finally:
        sim.consoles.close(proxy, error)
        await ws.close()
    return ws


async def _vnc(stream: WsStream, proxy: ConsoleProxy, vm: Vm | None) -> str | None:
    if vm is None or vm.status != "running" or proxy.password is None:
        # qm vncproxy: QMP set_password dies with `VM <vmid> not running`; the worker fails.
        return "Failed to run vncproxy."
    await RfbSession(stream, vm.name, vm.vmid, proxy.password).run()
    return None


async def _first_line(stream: WsStream) -> bytes:
    while b"\n" not in stream.buffer:
        await stream.fill()
    line, _, rest = bytes(stream.buffer).partition(b"\n")
    stream.buffer = bytearray(rest)
    return line


async def _terminal(stream: WsStream, proxy: ConsoleProxy, vm: Vm | None) -> str | None:
    try:
        line = await asyncio.wait_for(_first_line(stream), FIRST_LINE_TIMEOUT_S)
    except TimeoutError:
        return "command '/usr/bin/termproxy' failed: exit code 1"
    user, _, ticket = line.decode(errors="replace").partition(":")
    if user != proxy.user or ticket != proxy.ticket:
        log.info("termproxy: authentication request failed")  # termproxy's own stderr line
        return "command '/usr/bin/termproxy' failed: exit code 1"
    await stream.write(b"OK")
    await stream.write(b"starting serial terminal on interface serial0\r\n")
    if vm is None or vm.status != "running":
        await stream.write(f"VM {proxy.vmid} not running\r\n".encode())
        return None
    await stream.write(f"\r\n{vm.name} (VM {vm.vmid})\r\n\r\n{vm.name} login: ".encode())
    while True:
        await _terminal_input(stream)


async def _terminal_input(stream: WsStream) -> None:
    """Handle one client frame: input is echoed as a tty with `echo` would, resize and ping change nothing."""
    while True:
        while stream.buffer and stream.buffer[0] not in b"012":  # termproxy skips unknown bytes
            del stream.buffer[0]
        match = _TERM_FRAME.match(stream.buffer)
        if match is not None and match.group(1) is not None:
            end = match.end() + int(match.group(1))
            if len(stream.buffer) >= end:
                data = bytes(stream.buffer[match.end() : end])
                del stream.buffer[:end]
                await stream.write(data.replace(b"\r", b"\r\n"))
                return
        elif match is not None:
            del stream.buffer[: match.end()]
            return
        elif stream.buffer and not _TERM_PREFIX.fullmatch(stream.buffer):
            del stream.buffer[0]
            continue
        await stream.fill()
