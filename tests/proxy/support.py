"""Helpers for tests that route through a real Caddy: a Caddy process of the test's own, a small upstream, and
HTTPS requests for a name resolved to 127.0.0.1 (as ``curl --resolve`` does) that trust Caddy's root."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from cloudfaster.proxy.process import CaddyProcess, caddy_binary
from tests.compose.support import free_port
from tests.support.rig import require


def start_caddy(home: Path) -> CaddyProcess:
    """A Caddy of the test's own: admin API on a free 127.0.0.1 port, data and config under ``home``."""
    binary = caddy_binary()
    require(binary is not None, "caddy (Debian's caddy package)")
    process = CaddyProcess(home, f"127.0.0.1:{free_port()}", binary=binary)
    process.start()
    return process


async def wait_for_root(process: CaddyProcess, timeout_s: float = 10) -> Path:
    """The internal CA's root certificate, once Caddy has made it."""
    for _ in range(int(timeout_s / 0.05)):
        if process.root_ca.exists():
            break
        await asyncio.sleep(0.05)
    assert process.root_ca.exists(), "Caddy made no internal CA"
    return process.root_ca


def tls_context(root: Path) -> ssl.SSLContext:
    """A client context that trusts only Caddy's internal root."""
    return ssl.create_default_context(cafile=str(root))


async def https_get(
    name: str, port: int, root: Path, path: str = "/", *, timeout_s: float = 10, **kwargs: object
) -> httpx.Response:
    """GET ``https://<name>:<port><path>`` with ``name`` resolved to 127.0.0.1 (SNI and Host are the name)."""
    async with httpx.AsyncClient(verify=tls_context(root), timeout=timeout_s, trust_env=False) as client:
        return await client.get(
            f"https://127.0.0.1:{port}{path}",
            headers={"Host": f"{name}:{port}" if port != 443 else name},
            extensions={"sni_hostname": name},
            **kwargs,  # type: ignore[arg-type]
        )


async def serves_https(name: str, port: int, root: Path, expected: bytes, timeout_s: float = 10) -> bool:
    """Whether ``https://<name>:<port>/`` answers 200 with ``expected`` in its body within ``timeout_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        with contextlib.suppress(httpx.HTTPError, ssl.SSLError, OSError):
            resp = await https_get(name, port, root, timeout_s=3)
            if resp.status_code == 200 and expected in resp.content:
                return True
        await asyncio.sleep(0.2)
    return False


def curl(name: str, port: int, root: Path, path: str = "/") -> subprocess.CompletedProcess[str]:
    """The real curl: ``curl --cacert <root> --resolve <name>:<port>:127.0.0.1 https://<name>:<port><path>``."""
    binary = shutil.which("curl")
    require(binary is not None, "curl")
    argv = [str(binary), "-sS", "--max-time", "10", "--cacert", str(root), "--resolve", f"{name}:{port}:127.0.0.1"]
    return subprocess.run(
        [*argv, f"https://{name}:{port}{path}"], capture_output=True, text=True, timeout=30, check=False
    )


class Upstream:
    """An HTTP/1.1 server on 127.0.0.1: ``/`` answers its ``body`` at once, ``/slow`` after ``slow_s``."""

    def __init__(self, body: bytes, slow_s: float = 2.0) -> None:
        self.body = body
        self.slow_s = slow_s
        self.port = 0
        self._server: asyncio.Server | None = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                if head.split(b" ")[1].startswith(b"/slow"):
                    await asyncio.sleep(self.slow_s)
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s"
                    % (len(self.body), self.body)
                )
                await writer.drain()
        writer.close()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Upstream]:
        """Serve while in the block."""
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        try:
            yield self
        finally:
            self._server.close()
