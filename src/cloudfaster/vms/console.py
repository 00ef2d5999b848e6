"""Browser consoles: one-time tokens bound to a user and a VM, and the relay between the browser and PVE.

The browser never meets Proxmox VE: CloudFaster opens PVE's console websocket with its own API token, does the
VNC Authentication with PVE's one-time password itself, and offers the browser RFB security type 1 (None) after
the token check; from then on the RFB bytes are relayed unchanged. The serial console (termproxy) is relayed
after CloudFaster's own login line. Nothing PVE sent before the console itself reaches the browser.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import struct
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol

from cloudfaster.core.errors import ConflictError, ForbiddenError, NotFoundError, UnauthorizedError
from cloudfaster.core.principal import Principal
from cloudfaster.db.base import utcnow
from cloudfaster.proxmox.console import ConsoleSocket
from cloudfaster.proxmox.errors import ProxmoxError, ProxmoxNodeDownError, ProxmoxNotRunningError
from cloudfaster.vms import store
from cloudfaster.vms.errors import app_error
from cloudfaster.vms.runtime import VmRuntime

log = logging.getLogger("cloudfaster.vms.console")

ConsoleKind = Literal["vnc", "term"]
TOKEN_TTL = timedelta(seconds=60)
# The websocket subprotocol that carries a token (a websocket cannot send X-API-Key).
TOKEN_PROTOCOL = "cloudfaster-token."  # noqa: S105 - a prefix, not a secret
RFB_VERSION = b"RFB 003.008\n"
SECURITY_NONE = 1


class Channel(Protocol):
    """The browser's websocket as the relay sees it."""

    async def receive(self) -> bytes | None:
        """The next message's bytes; None once the browser has gone."""
        ...

    async def send(self, data: bytes) -> None:
        """Send bytes in one binary message."""
        ...


@dataclass(frozen=True, slots=True)
class ConsoleGrant:
    """A console token just issued: shown once, valid until ``expires_at``, for one connection."""

    token: str
    vmid: int
    kind: ConsoleKind
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class ConsoleTarget:
    """What a redeemed token opens."""

    vmid: int
    node: str
    kind: ConsoleKind
    name: str


def hash_token(token: str) -> str:
    """The stored form of a console token (SHA-256; the token itself has 256 random bits)."""
    return hashlib.sha256(token.encode()).hexdigest()


async def grant(rt: VmRuntime, principal: Principal, vmid: int, kind: ConsoleKind) -> ConsoleGrant:
    """Issue a one-time console token for a running VM the caller may see (404 otherwise, 409 unless running)."""
    async with rt.db.read() as session:
        vm = (await store.get_vm(session, principal, vmid)).vm
    if vm.status != "enabled" or vm.node is None:
        raise ConflictError(f"VM {vmid} is {vm.status}; only an enabled VM has a console", code="vm_not_enabled")
    try:
        power = await rt.hv().status(vm.node, vmid)
    except ProxmoxError as exc:
        raise app_error(exc, node=vm.node) from exc
    if power.status != "running":
        # PVE opens a VNC proxy for a stopped VM too, then closes its websocket at once: say so up front.
        raise ConflictError("the VM is not running; start it to open its console", code="vm_not_running")
    token = secrets.token_urlsafe(32)
    expires_at = utcnow() + TOKEN_TTL
    async with rt.db.write() as session:
        await store.add_console_ticket(session, hash_token(token), vmid, principal.user_id, kind, expires_at)
    return ConsoleGrant(token, vmid, kind, expires_at)


async def redeem(rt: VmRuntime, token: str, vmid: int) -> ConsoleTarget:
    """Use a token once for VM ``vmid``: refused when unknown, used, expired, for another VM, or the VM is gone."""
    async with rt.db.write() as session:
        ticket, fresh = await store.use_console_ticket(session, hash_token(token))
        vm = await store.vm_by_vmid(session, vmid) if ticket is not None else None
    if ticket is None:
        raise UnauthorizedError("this console token is not valid", code="console_token_invalid")
    if not fresh:
        if ticket.used_at is not None:
            raise UnauthorizedError("this console token was already used", code="console_token_used")
        raise UnauthorizedError("this console token has expired; ask for a new console", code="console_token_expired")
    if ticket.vmid != vmid:
        raise ForbiddenError(f"this console token is not for VM {vmid}", code="console_token_wrong_vm")
    owner_changed = ticket.user_id is not None and (vm is None or vm.user_id != ticket.user_id)
    if vm is None or owner_changed or vm.status in ("deleting", "deleted") or vm.node is None:
        raise NotFoundError(f"VM {vmid} not found", code="vm_not_found")
    kind: ConsoleKind = "term" if ticket.kind == "term" else "vnc"
    return ConsoleTarget(vmid, vm.node, kind, vm.name)


def _why(exc: ProxmoxError) -> str:
    """What the browser may learn about a failed console: never PVE's host, port, user or token."""
    if isinstance(exc, ProxmoxNotRunningError):
        return "the VM is not running"
    if isinstance(exc, ProxmoxNodeDownError):
        return "the VM's node cannot be reached"
    return "Proxmox VE could not open the console (is the VM running?)"


class _Buffered:
    """Exact reads over a channel, keeping what was read ahead."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.buffer = bytearray()

    async def read_exactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            data = await self.channel.receive()
            if data is None:
                raise EOFError("the browser left during the handshake")
            self.buffer += data
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data


async def _browser_handshake(browser: Channel, reader: _Buffered, failure: str | None) -> bool:
    """Be the RFB server towards the browser up to SecurityResult: security None, or a failure with a reason."""
    await browser.send(RFB_VERSION)
    version = await reader.read_exactly(12)
    minor = int(version[8:11]) if version[:8] == b"RFB 003." and version[8:11].isdigit() else 0
    reason = (failure or "").encode()
    if minor < 7:  # 3.3: the server decides the type (0 = failed, then a reason)
        if failure is not None:
            await browser.send(struct.pack(">II", 0, len(reason)) + reason)
            return False
        await browser.send(struct.pack(">I", SECURITY_NONE))
        return True
    if failure is not None:
        await browser.send(struct.pack(">BI", 0, len(reason)) + reason)
        return False
    await browser.send(bytes([1, SECURITY_NONE]))
    if (await reader.read_exactly(1))[0] != SECURITY_NONE:
        text = b"only security type None is offered"
        await browser.send(struct.pack(">II", 1, len(text)) + text)
        return False
    if minor >= 8:  # RFB 3.8 sends a SecurityResult for None too; 3.7 does not
        await browser.send(struct.pack(">I", 0))
    return True


async def _pump(receive: ConsoleSocket | Channel, send: ConsoleSocket | Channel) -> None:
    while (data := await receive.receive()) is not None:
        await send.send(data)


async def _relay(browser: Channel, upstream: ConsoleSocket, ahead: bytes) -> None:
    if ahead:
        await upstream.send(ahead)
    pumps = [asyncio.create_task(_pump(browser, upstream)), asyncio.create_task(_pump(upstream, browser))]
    try:
        done, _ = await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if (error := task.exception()) is not None:
                log.info("console relay ended: %s", type(error).__name__)
    finally:
        for task in pumps:
            task.cancel()
        await asyncio.gather(*pumps, return_exceptions=True)


async def serve(rt: VmRuntime, target: ConsoleTarget, browser: Channel) -> None:
    """Open the VM's console on PVE and relay it to the browser until either side leaves."""
    upstream: ConsoleSocket | None = None
    failure: str | None = None
    try:
        upstream = await rt.hv().open_console(target.node, target.vmid, target.kind)
    except ProxmoxError as exc:
        log.warning("console of VM %s could not be opened: %s", target.vmid, exc.message)
        failure = _why(exc)
    try:
        if target.kind == "term":
            if failure is not None:
                await browser.send(f"\r\nconsole unavailable: {failure}\r\n".encode())
            elif upstream is not None:
                await _relay(browser, upstream, b"")
            return
        reader = _Buffered(browser)
        with contextlib.suppress(EOFError):
            if await _browser_handshake(browser, reader, failure) and upstream is not None:
                await _relay(browser, upstream, bytes(reader.buffer))
    finally:
        if upstream is not None:
            await upstream.close()
