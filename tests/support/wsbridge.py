"""A TCP listener on 127.0.0.1 that bridges each connection to a websocket (for TCP-only VNC clients)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import aiohttp


async def _bridge(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, url: str, protocols: Sequence[str]
) -> None:
    async with aiohttp.ClientSession() as session, session.ws_connect(url, protocols=tuple(protocols)) as ws:

        async def up() -> None:
            while data := await reader.read(65536):
                await ws.send_bytes(data)

        async def down() -> None:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.BINARY:
                    break
                writer.write(msg.data)
                await writer.drain()

        pumps = [asyncio.create_task(up()), asyncio.create_task(down())]
        await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        for task in pumps:
            task.cancel()
        await asyncio.gather(*pumps, return_exceptions=True)
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()


@asynccontextmanager
async def tcp_to_websocket(url: str, protocols: Sequence[str]) -> AsyncIterator[int]:
    """Listen on 127.0.0.1; every connection is relayed to ``url``. Yields the port."""
    server = await asyncio.start_server(lambda r, w: _bridge(r, w, url, protocols), "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()
