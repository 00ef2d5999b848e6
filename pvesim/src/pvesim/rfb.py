"""An RFB 3.8 server as QEMU speaks it behind `qm vncproxy` (QEMU ui/vnc.c; RFC 6143).

QEMU with `password=on` and no TLS offers exactly one security type, 2 (VNC Authentication): a 16-byte DES
challenge keyed with the first 8 bytes of the password (`protocol_client_auth_vnc`). The framebuffer is the VM's
text console (pvesim.screen), sent in Raw encoding; SetPixelFormat is honoured for 32-bit true colour.
"""

from __future__ import annotations

import hmac
import logging
import struct
import time
from dataclasses import dataclass, field
from typing import Protocol

from pvesim.screen import HEIGHT, SERVER_FORMAT, WIDTH, PixelFormat, pixel_bytes, render_console
from pvesim.vncauth import new_challenge, vnc_auth_response

log = logging.getLogger("pvesim.rfb")

VERSION = b"RFB 003.008\n"
SECURITY_VNC_AUTH = 2
AUTH_FAILED = b"Authentication failed"
# qm vncproxy: `expire_password time=+30`, counted from the connect.
PASSWORD_LIFETIME_S = 30.0
ENCODING_RAW = 0


class ByteStream(Protocol):
    """A bidirectional byte stream (the websocket after the upgrade)."""

    async def read_exactly(self, size: int) -> bytes:
        """Return exactly `size` bytes; raise EOFError when the peer has gone."""
        ...

    async def write(self, data: bytes) -> None:
        """Send bytes."""
        ...


@dataclass
class RfbSession:
    """One client of a VM's VNC server."""

    stream: ByteStream
    name: str
    vmid: int
    password: str
    connected_at: float = field(default_factory=time.monotonic)
    pixel_format: PixelFormat = SERVER_FORMAT
    minor: int = 8
    _frames: dict[PixelFormat, bytes] = field(default_factory=dict)

    async def run(self) -> None:
        """Speak RFB until the client leaves or fails to authenticate."""
        if not await self._handshake():
            return
        await self.stream.read_exactly(1)  # ClientInit: the shared flag
        name = self.name.encode()
        await self.stream.write(
            struct.pack(">HH", WIDTH, HEIGHT) + SERVER_FORMAT.pack() + struct.pack(">I", len(name)) + name
        )
        while True:
            await self._message(await self.stream.read_exactly(1))

    async def _handshake(self) -> bool:
        await self.stream.write(VERSION)
        version = await self.stream.read_exactly(12)
        # QEMU protocol_version: 3.3, 3.7 and 3.8; 3.4 and 3.5 (old UltraVNC, TightVNC) are served as 3.3.
        digits = version[4:7] + version[8:11]
        major, minor = (int(version[4:7]), int(version[8:11])) if digits.isdigit() else (0, 0)
        if version[:4] != b"RFB " or major != 3 or minor not in (3, 4, 5, 7, 8):
            log.info("vnc: unsupported client version %r", version)
            return False
        self.minor = 3 if minor in (4, 5) else minor
        if self.minor == 3:
            await self.stream.write(struct.pack(">I", SECURITY_VNC_AUTH))
        else:
            await self.stream.write(bytes([1, SECURITY_VNC_AUTH]))
            if (await self.stream.read_exactly(1))[0] != SECURITY_VNC_AUTH:
                await self._fail()
                return False
        challenge = new_challenge()
        await self.stream.write(challenge)
        response = await self.stream.read_exactly(16)
        expired = time.monotonic() - self.connected_at > PASSWORD_LIFETIME_S
        if expired or not hmac.compare_digest(response, vnc_auth_response(self.password, challenge)):
            await self._fail()
            return False
        await self.stream.write(struct.pack(">I", 0))
        return True

    async def _fail(self) -> None:
        result = struct.pack(">I", 1)
        if self.minor >= 8:
            result += struct.pack(">I", len(AUTH_FAILED)) + AUTH_FAILED
        await self.stream.write(result)

    async def _message(self, kind: bytes) -> None:
        read = self.stream.read_exactly
        match kind[0]:
            case 0:  # SetPixelFormat
                fmt = PixelFormat.unpack((await read(19))[3:])
                if not fmt.supported:
                    raise EOFError(f"pixel format {fmt} is not simulated")
                self.pixel_format = fmt
            case 2:  # SetEncodings: Raw is always understood, so the list needs no look
                (count,) = struct.unpack(">xH", await read(3))
                await read(4 * count)
            case 3:  # FramebufferUpdateRequest
                incremental, x, y, w, h = struct.unpack(">BHHHH", await read(9))
                if not incremental:  # the console never changes: QEMU answers incremental ones only on change
                    await self._update(x, y, w, h)
            case 4:  # KeyEvent
                await read(7)
            case 5:  # PointerEvent
                await read(5)
            case 6:  # ClientCutText
                (length,) = struct.unpack(">3xI", await read(7))
                await read(length)
            case other:
                raise EOFError(f"unknown client message type {other}")

    async def _update(self, x: int, y: int, w: int, h: int) -> None:
        x, y = min(x, WIDTH), min(y, HEIGHT)
        w, h = min(w, WIDTH - x), min(h, HEIGHT - y)
        header = struct.pack(">xxH", 1) + struct.pack(">HHHHi", x, y, w, h, ENCODING_RAW)
        await self.stream.write(header + self._pixels(x, y, w, h))

    def _pixels(self, x: int, y: int, w: int, h: int) -> bytes:
        image = render_console(self.name, self.vmid)
        if (x, y, w, h) != (0, 0, WIDTH, HEIGHT):
            return pixel_bytes(image, self.pixel_format, (x, y, w, h))
        frame = self._frames.get(self.pixel_format)
        if frame is None:
            frame = self._frames[self.pixel_format] = pixel_bytes(image, self.pixel_format)
        return frame
