"""The client reads the environment as requests would (proxies, NO_PROXY, a CA bundle), once per worker thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from pvesim.testing import PveSim, start_pvesim

from cloudfaster.proxmox.client import ApiToken, ClientOptions, NodeAddress, ProxmoxCluster


class ConnectProxy:
    """An HTTP CONNECT proxy on 127.0.0.1 that tunnels bytes and remembers every target asked for."""

    def __init__(self) -> None:
        self.targets: list[str] = []
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.port = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self.ready.set()
        self.loop.run_forever()
        server.close()
        tunnels = asyncio.all_tasks(self.loop)
        for task in tunnels:
            task.cancel()
        self.loop.run_until_complete(asyncio.gather(*tunnels, return_exceptions=True))
        self.loop.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        method, target, _ = request.split(b"\r\n", 1)[0].decode().split(" ", 2)
        if method != "CONNECT":
            writer.close()
            return
        self.targets.append(target)
        host, _, port = target.rpartition(":")
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer), return_exceptions=True)

    def __enter__(self) -> ConnectProxy:
        self.thread.start()
        self.ready.wait(10)
        return self

    def __exit__(self, *_: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="module")
def sim() -> Iterator[PveSim]:
    """A default simulator."""
    with start_pvesim() as running:
        yield running


@pytest.fixture
def proxy() -> Iterator[ConnectProxy]:
    """A CONNECT proxy on loopback."""
    with ConnectProxy() as running:
        yield running


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No proxy or CA bundle variables from the machine running the tests."""
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@asynccontextmanager
async def cluster(sim: PveSim, verify: bool | Path) -> AsyncIterator[ProxmoxCluster]:
    """A new client (its threads read the environment as it is now)."""
    nodes = [NodeAddress(name, sim.host, sim.port) for name in sim.cluster.nodes]
    client = ProxmoxCluster(nodes, ApiToken(sim.token_id, sim.token_secret), ClientOptions(verify=verify))
    try:
        yield client
    finally:
        await client.close()


async def test_calls_go_through_the_proxy_the_environment_names(
    sim: PveSim, proxy: ConnectProxy, clean_env: pytest.MonkeyPatch
) -> None:
    clean_env.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
    async with cluster(sim, sim.ca_file) as client:
        assert {node.name for node in await client.nodes()} == set(sim.cluster.nodes)
    assert f"{sim.host}:{sim.port}" in proxy.targets


async def test_no_proxy_keeps_calls_direct(sim: PveSim, proxy: ConnectProxy, clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
    clean_env.setenv("NO_PROXY", sim.host)
    async with cluster(sim, sim.ca_file) as client:
        assert await client.nodes()
    assert proxy.targets == []


async def test_a_ca_bundle_in_the_environment_verifies_the_node(sim: PveSim, clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("REQUESTS_CA_BUNDLE", str(sim.ca_file))
    async with cluster(sim, True) as client:
        assert await client.nodes()
