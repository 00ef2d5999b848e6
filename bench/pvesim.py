"""Benchmark pvesim on loopback: simple GETs per second and 200 parallel clone+start sequences.

Runs the simulator in its own process (`pvesim --fast`, zero-length tasks) and drives it with an aiohttp
client over HTTPS keep-alive connections. Prints the figures and their ratio to the targets; exits 1 if a
target is missed. Usage: .venv/bin/python bench/pvesim.py [--gets 5000] [--sequences 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

# This file is named like the package: drop its own directory so `import pvesim` finds the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from pvesim.config import TokenSpec  # noqa: E402

GET_TARGET = 1000.0
TOKEN = TokenSpec()
HEADERS = {"Authorization": f"PVEAPIToken={TOKEN.token_id}={TOKEN.secret}"}
TEMPLATES = [("sv1", 9000), ("sv2", 9011), ("sv3", 9020), ("sv4", 9030), ("sv5", 9041)]


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(port: int, cert_dir: Path) -> subprocess.Popen[bytes]:
    """Start `pvesim --fast` in a child process."""
    command = [sys.executable, "-m", "pvesim.cli", "--port", str(port), "--fast", "--cert-dir", str(cert_dir)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_for_file(path: Path, timeout: float = 20) -> None:
    """Block until the server has written its CA file."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise RuntimeError("pvesim did not start")
        time.sleep(0.05)


async def wait_ready(session: aiohttp.ClientSession, base: str) -> None:
    """Wait (at most 20 s) for /pvesim/health to answer."""
    for _ in range(200):
        try:
            async with session.get(f"{base}/pvesim/health") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError("pvesim did not start")


REQUESTS = [0]


async def api(session: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> Any:
    """Call the API and return `data`, raising on any non-200 answer."""
    REQUESTS[0] += 1
    async with session.request(method, url, headers=HEADERS, **kwargs) as response:
        if response.status != 200:
            raise RuntimeError(f"{method} {url}: {response.status} {response.reason}")
        return (await response.json())["data"]


async def bench_gets(session: aiohttp.ClientSession, base: str, total: int, concurrency: int) -> float:
    """Send `total` GET /version requests over `concurrency` connections; return requests per second."""
    remaining = total

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await api(session, "GET", f"{base}/api2/json/version")

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return total / (time.perf_counter() - started)


async def wait_task(session: aiohttp.ClientSession, base: str, node: str, upid: str) -> None:
    """Poll a task until it stops; raise unless it ended OK."""
    while True:
        status = await api(session, "GET", f"{base}/api2/json/nodes/{node}/tasks/{upid}/status")
        if status["status"] == "stopped":
            if status["exitstatus"] != "OK":
                raise RuntimeError(f"{upid}: {status['exitstatus']}")
            return
        await asyncio.sleep(0.01)


async def clone_and_start(session: aiohttp.ClientSession, base: str, index: int) -> float:
    """Clone a template, wait, start the clone, wait; return the seconds it took."""
    node, template = TEMPLATES[index % len(TEMPLATES)]
    newid = 1000 + index
    started = time.perf_counter()
    upid = await api(
        session,
        "POST",
        f"{base}/api2/json/nodes/{node}/qemu/{template}/clone",
        data={"newid": str(newid), "name": f"bench-{newid}"},
    )
    await wait_task(session, base, node, upid)
    upid = await api(session, "POST", f"{base}/api2/json/nodes/{node}/qemu/{newid}/status/start")
    await wait_task(session, base, node, upid)
    return time.perf_counter() - started


async def bench_sequences(session: aiohttp.ClientSession, base: str, count: int) -> tuple[float, list[float], int]:
    """Run `count` clone+start sequences at once; return wall time, per-sequence latencies and requests sent."""
    REQUESTS[0] = 0
    started = time.perf_counter()
    latencies = await asyncio.gather(*(clone_and_start(session, base, i) for i in range(count)))
    wall = time.perf_counter() - started
    sent = REQUESTS[0]
    resources = await api(session, "GET", f"{base}/api2/json/cluster/resources", params={"type": "vm"})
    running = sum(1 for r in resources if r["vmid"] >= 1000 and r["status"] == "running")
    if running != count:
        raise RuntimeError(f"expected {count} running clones, found {running}")
    return wall, list(latencies), sent


async def run(args: argparse.Namespace, base: str, ca: Path) -> tuple[float, float, list[float], int]:
    """Run both benchmarks against a started server."""
    context = ssl.create_default_context(cafile=str(ca))
    connector = aiohttp.TCPConnector(limit=args.concurrency, ssl=context)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as session:
        await wait_ready(session, base)
        await bench_gets(session, base, 200, args.concurrency)  # warm-up
        rate = await bench_gets(session, base, args.gets, args.concurrency)
        wall, latencies, sent = await bench_sequences(session, base, args.sequences)
    return rate, wall, latencies, sent


def report(args: argparse.Namespace, rate: float, wall: float, latencies: list[float], sent: int) -> bool:
    """Print the figures; return True if the GET target was met."""
    print(f"machine: {os.cpu_count()} CPUs, loopback HTTPS, {args.concurrency} keep-alive connections")
    print(
        f"simple GETs: {args.gets} x GET /version -> {rate:,.0f} req/s "
        f"(target {GET_TARGET:,.0f}; {rate / GET_TARGET:.2f}x)"
    )
    print(
        f"clone+start: {args.sequences} sequences in parallel, all OK and running -> {wall:.2f} s wall, "
        f"{args.sequences / wall:,.0f} sequences/s, {sent} requests = {sent / wall:,.0f} req/s; "
        f"latency median {statistics.median(latencies) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms"
    )
    ok = rate >= GET_TARGET
    print("result:", "PASS" if ok else "FAIL (below 1,000 GETs/s)")
    return ok


def main() -> int:
    """Parse arguments, start the server in a child process and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--gets", type=int, default=5000, help="number of GET requests (default 5000)")
    parser.add_argument("--sequences", type=int, default=200, help="parallel clone+start sequences (default 200)")
    parser.add_argument("--concurrency", type=int, default=16, help="client connections (default 16)")
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="pvesim-bench-") as cert_dir:
        server = start_server(port, Path(cert_dir))
        try:
            ca = Path(cert_dir) / "pvesim-ca.pem"
            wait_for_file(ca)
            rate, wall, latencies, sent = asyncio.run(run(args, f"https://127.0.0.1:{port}", ca))
        finally:
            server.terminate()
            server.wait(timeout=10)
    return 0 if report(args, rate, wall, latencies, sent) else 1


if __name__ == "__main__":
    raise SystemExit(main())
