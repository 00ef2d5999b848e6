"""Embed pvesim in another program: `with start_embedded() as sim: connect to sim.base_url with sim.token_id`.

This is pvesim's public API for embedding. It runs the simulator on its own event loop in a daemon thread of the
calling process, with a fresh CA and server certificate, and stops it when the `with` block ends. `pvesim.testing`
builds on the same runner and adds what tests need (proxmoxer clients, live cluster state, fault switches).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import shutil
import socket
import tempfile
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from pvesim.config import SimConfig
from pvesim.server import build_app
from pvesim.simulator import Simulator
from pvesim.tls import make_certificates


@dataclass(frozen=True)
class EmbeddedPveSim:
    """Where an embedded simulator listens and how to authenticate to it."""

    host: str
    port: int
    token_id: str  # `USER@REALM!TOKENID`, e.g. `root@pam!cloudfaster`
    token_secret: str
    ca_file: Path  # PEM file to verify the server certificate against
    nodes: tuple[str, ...]

    @property
    def base_url(self) -> str:
        """Return `https://host:port`."""
        return f"https://{self.host}:{self.port}"


@dataclass(frozen=True)
class RunningSimulator:
    """A simulator served by `serve_in_thread`: its state, its address and the event loop it runs on."""

    simulator: Simulator
    host: str
    port: int
    loop: asyncio.AbstractEventLoop


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve_in_thread(
    config: SimConfig, state_file: Path | None = None, *, host: str = "127.0.0.1", port: int = 0
) -> Iterator[RunningSimulator]:
    """Serve a simulator over HTTPS from a background thread (port 0: a free one); stop it and its TLS files on exit.

    The lower-level runner under `start_embedded` and `pvesim.testing.start_pvesim`.
    """
    cert_dir = Path(tempfile.mkdtemp(prefix="pvesim-tls-"))
    tls = make_certificates(cert_dir)
    sim = Simulator(config, tls, state_file)
    loop = asyncio.new_event_loop()
    started: concurrent.futures.Future[int] = concurrent.futures.Future()
    runner = web.AppRunner(build_app(sim), access_log=None)

    async def serve() -> int:
        await runner.setup()
        actual_port = port or _free_port(host)
        site = web.TCPSite(runner, host, actual_port, ssl_context=tls.server_context(), backlog=1024)
        await site.start()
        return actual_port

    def run_loop() -> None:
        asyncio.set_event_loop(loop)
        try:
            started.set_result(loop.run_until_complete(serve()))
        except BaseException as exc:
            started.set_exception(exc)
            return
        loop.run_forever()

    thread = threading.Thread(target=run_loop, name="pvesim", daemon=True)
    thread.start()
    try:
        actual = started.result(timeout=30)
        yield RunningSimulator(sim, host, actual, loop)
    finally:
        if loop.is_running():
            asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=30)
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        if not loop.is_running():
            loop.close()
        shutil.rmtree(cert_dir, ignore_errors=True)


@contextmanager
def start_embedded(
    task_durations: Mapping[str, float] | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    auth_failure_delay: float = 0.0,
) -> Iterator[EmbeddedPveSim]:
    """Run the default cluster (sv1…sv5, one API token) in a background thread until the `with` block ends.

    `task_durations` (seconds per task type, e.g. `{"qmclone": 2.0}`) override the realistic defaults of
    `pvesim.config.DEFAULT_TASK_DURATIONS`; 0 finishes a task within its request. `auth_failure_delay` is the pause
    before a 401 (PVE waits 3 s; 0 by default here). Port 0 picks a free port.
    """
    durations = dict(task_durations or {})
    if any(seconds < 0 for seconds in durations.values()):
        raise ValueError("task durations must not be negative")
    config = SimConfig(auth_failure_delay=auth_failure_delay)
    config.task_durations.update(durations)
    with serve_in_thread(config, host=host, port=port) as running:
        sim = running.simulator
        token = sim.config.tokens[0]
        yield EmbeddedPveSim(
            host=running.host,
            port=running.port,
            token_id=token.token_id,
            token_secret=token.secret,
            ca_file=sim.tls.ca_file,
            nodes=tuple(sim.cluster.nodes),
        )


__all__ = ["EmbeddedPveSim", "RunningSimulator", "serve_in_thread", "start_embedded"]
