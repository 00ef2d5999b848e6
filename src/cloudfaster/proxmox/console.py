"""PVE's console websocket (`vncwebsocket`), opened with the API token, and the logins behind it.

Sources (shared notes pve-behaviour-2.md §1): after the upgrade the bytes are QEMU's own RFB server, which offers
only VNC Authentication keyed with the first 8 bytes of the vncproxy password (QEMU ui/vnc.c); termproxy wants the
line `<user>:<ticket>\\n` first and answers `OK` (pve-xtermjs termproxy main.rs). pveproxy sends binary frames.
"""

from __future__ import annotations

import ssl
import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cloudfaster.proxmox.errors import ProxmoxError

if TYPE_CHECKING:  # aiohttp (about 5 MB resident) loads with the first console, not at start-up
    import aiohttp

RFB_VERSION = b"RFB 003.008\n"
SECURITY_VNC_AUTH = 2


class ProxmoxConsoleError(ProxmoxError):
    """The console websocket closed or refused the login before the console was reached."""


def vnc_auth_response(password: str, challenge: bytes) -> bytes:
    """The DES encryption of a VNC Authentication challenge, keyed as VNC does (8 bytes, bits reversed)."""
    # cryptography's OpenSSL bindings hold 7 MB resident: loaded by the first console login, not at start-up.
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
    from cryptography.hazmat.primitives.ciphers import Cipher, modes

    raw = password.encode("latin-1", "replace")[:8].ljust(8, b"\0")
    key = bytes(int(f"{byte:08b}"[::-1], 2) for byte in raw)
    # TripleDES with the key repeated three times is single DES, which VNC's protocol prescribes (in ECB).
    encryptor = Cipher(TripleDES(key * 3), modes.ECB()).encryptor()  # noqa: S305
    return encryptor.update(challenge) + encryptor.finalize()


@dataclass
class ConsoleSocket:
    """One console websocket to PVE: exact reads during the login, then frames as they come."""

    session: aiohttp.ClientSession
    ws: aiohttp.ClientWebSocketResponse
    buffer: bytearray = field(default_factory=bytearray)

    async def read_exactly(self, size: int) -> bytes:
        """Exactly ``size`` bytes; ``ProxmoxConsoleError`` if PVE closes first."""
        while len(self.buffer) < size:
            data = await self._frame()
            if data is None:
                raise ProxmoxConsoleError("Proxmox VE closed the console (the VM may not be running)")
            self.buffer += data
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    async def _frame(self) -> bytes | None:
        import aiohttp

        msg = await self.ws.receive()
        if msg.type == aiohttp.WSMsgType.BINARY:
            return bytes(msg.data)
        if msg.type == aiohttp.WSMsgType.TEXT:
            return str(msg.data).encode()
        return None

    async def receive(self) -> bytes | None:
        """The next bytes from PVE (what is left of the login first); None once it has closed."""
        if self.buffer:
            data, self.buffer = bytes(self.buffer), bytearray()
            return data
        return await self._frame()

    async def send(self, data: bytes) -> None:
        """Send bytes to PVE in one binary frame."""
        await self.ws.send_bytes(data)

    async def close(self) -> None:
        """Close the websocket and its HTTP session."""
        try:
            await self.ws.close()
        finally:
            await self.session.close()

    async def vnc_login(self, password: str) -> None:
        """Version 3.8 and VNC Authentication; afterwards PVE waits for ClientInit."""
        version = await self.read_exactly(12)
        if not version.startswith(b"RFB 003."):
            raise ProxmoxConsoleError(f"the VM's VNC server speaks {version!r}, not RFB 3.x")
        await self.send(RFB_VERSION)
        types = await self.read_exactly((await self.read_exactly(1))[0])
        if SECURITY_VNC_AUTH not in types:
            raise ProxmoxConsoleError(f"the VM's VNC server offers security types {list(types)}, not VNC auth")
        await self.send(bytes([SECURITY_VNC_AUTH]))
        await self.send(vnc_auth_response(password, await self.read_exactly(16)))
        (result,) = struct.unpack(">I", await self.read_exactly(4))
        if result != 0:
            (length,) = struct.unpack(">I", await self.read_exactly(4))
            reason = (await self.read_exactly(length)).decode(errors="replace")
            raise ProxmoxConsoleError(f"the VM's VNC server refused the password: {reason}")

    async def term_login(self, user: str, ticket: str) -> None:
        """termproxy's login line; afterwards the bytes are the terminal's."""
        await self.ws.send_str(f"{user}:{ticket}\n")
        if await self.read_exactly(2) != b"OK":
            raise ProxmoxConsoleError("termproxy refused the console ticket")


async def connect_console(
    url: str, authorization: str, ssl_context: ssl.SSLContext | bool, timeout_s: float
) -> ConsoleSocket:
    """Open ``url`` (PVE's vncwebsocket) as a websocket with the API token header."""
    import aiohttp

    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, connect=timeout_s))
    try:
        ws = await session.ws_connect(
            url,
            headers={"Authorization": authorization},
            ssl=ssl_context,
            protocols=("binary",),
            compress=0,
            max_msg_size=0,
            autoping=True,
        )
    except BaseException:
        await session.close()
        raise
    return ConsoleSocket(session, ws)
