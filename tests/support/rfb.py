"""A minimal RFB 3.8 client over an aiohttp websocket, for tests: handshake, then a Raw framebuffer capture."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import aiohttp
from PIL import Image
from pvesim.screen import SERVER_FORMAT, PixelFormat, image_from_pixels
from pvesim.vncauth import vnc_auth_response


class RfbAuthFailedError(Exception):
    """The server refused the handshake (SecurityResult 1, with its reason)."""


@dataclass
class RfbClient:
    """Reads and writes RFB over websocket frames; keeps every byte received before the framebuffer."""

    ws: aiohttp.ClientWebSocketResponse
    buffer: bytearray = field(default_factory=bytearray)
    received: bytearray = field(default_factory=bytearray)  # the handshake bytes, for leak checks
    width: int = 0
    height: int = 0
    name: str = ""
    security_types: list[int] = field(default_factory=list)
    pixel_format: PixelFormat = SERVER_FORMAT

    async def read_exactly(self, size: int) -> bytes:
        """Exactly ``size`` bytes; EOFError when the server closed first."""
        while len(self.buffer) < size:
            msg = await self.ws.receive()
            if msg.type != aiohttp.WSMsgType.BINARY:
                raise EOFError(f"websocket ended: {msg.type.name} {msg.extra or ''}")
            self.buffer += msg.data
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    async def _read_handshake(self, size: int) -> bytes:
        data = await self.read_exactly(size)
        self.received += data
        return data

    async def handshake(self, password: str | None) -> None:
        """Version 3.8, the security type on offer (VNC auth with ``password``, or None), ClientInit/ServerInit."""
        version = await self._read_handshake(12)
        assert version == b"RFB 003.008\n", version
        await self.ws.send_bytes(b"RFB 003.008\n")
        count = (await self._read_handshake(1))[0]
        self.security_types = list(await self._read_handshake(count))
        if password is None:
            assert 1 in self.security_types, self.security_types
            await self.ws.send_bytes(b"\x01")
        else:
            assert 2 in self.security_types, self.security_types
            await self.ws.send_bytes(b"\x02")
            challenge = await self._read_handshake(16)
            await self.ws.send_bytes(vnc_auth_response(password, challenge))
        (result,) = struct.unpack(">I", await self._read_handshake(4))
        if result != 0:
            (length,) = struct.unpack(">I", await self._read_handshake(4))
            raise RfbAuthFailedError((await self._read_handshake(length)).decode())
        await self.ws.send_bytes(b"\x01")  # shared
        self.width, self.height = struct.unpack(">HH", await self._read_handshake(4))
        self.pixel_format = PixelFormat.unpack(await self._read_handshake(16))
        (length,) = struct.unpack(">I", await self._read_handshake(4))
        self.name = (await self._read_handshake(length)).decode()

    async def request(self, x: int, y: int, w: int, h: int) -> bytes:
        """Ask for a non-incremental update of one region; return its Raw pixels."""
        await self.ws.send_bytes(struct.pack(">BBHHHH", 3, 0, x, y, w, h))
        kind, rects = struct.unpack(">BxH", await self.read_exactly(4))
        assert (kind, rects) == (0, 1), (kind, rects)
        rx, ry, rw, rh, encoding = struct.unpack(">HHHHi", await self.read_exactly(12))
        assert (rx, ry, rw, rh, encoding) == (x, y, w, h, 0)
        return await self.read_exactly(w * h * self.pixel_format.bits_per_pixel // 8)

    async def capture(self) -> Image.Image:
        """The whole framebuffer as an RGB image."""
        pixels = await self.request(0, 0, self.width, self.height)
        return image_from_pixels(pixels, (self.width, self.height), self.pixel_format)
