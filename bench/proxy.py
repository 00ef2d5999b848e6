"""Requests through Caddy (HTTPS, keep-alive, the internal CA) vs the container's published port directly, side by
side in one run.

A stand-in nginx container publishes a small index.html on 127.0.0.1; a Caddy of the bench's own (its admin API,
listeners and data on 127.0.0.1 and a temp dir) gets the route CloudFaster would give it, through the same client.
Rounds alternate direct and proxied; each round runs C keep-alive connections for D seconds with an aiohttp client
(HTTPS: SNI and Host are the route's name, the name resolved to 127.0.0.1). Every response's body is checked (a
request Caddy routes nowhere gets an empty 200). Prints requests/s, p50 and p99 per side (medians over rounds) and
the ratios.

Usage: python bench/proxy.py [--rounds 4] [--seconds 4] [--connections 16]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from cloudfaster.proxy.client import CaddyAdmin
from cloudfaster.proxy.config import BaseConfig, Route
from cloudfaster.proxy.process import CaddyProcess, caddy_binary

BODY = b"<h1>bench page</h1>\n" * 20
NAME = "bench-user.apps.test"
IMAGE = "nginx:1.30-alpine"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def hammer(url: str, host: str | None, ctx: ssl.SSLContext | None, seconds: float, conns: int) -> list[float]:
    """C connections each sending requests back to back for ``seconds``; the latency of every request."""
    latencies: list[float] = []
    connector = aiohttp.TCPConnector(limit=conns, ssl=ctx if ctx is not None else False)
    headers = {"Host": host} if host else {}
    async with aiohttp.ClientSession(connector=connector) as session:
        end = time.perf_counter() + seconds

        async def one() -> None:
            while time.perf_counter() < end:
                start = time.perf_counter()
                async with session.get(url, headers=headers, server_hostname=host.split(":")[0] if host else None) as r:
                    body = await r.read()
                if r.status != 200 or body != BODY:
                    raise RuntimeError(f"wrong answer: {r.status} {body[:80]!r}")
                latencies.append(time.perf_counter() - start)

        await asyncio.gather(*(one() for _ in range(conns)))
    return latencies


def figures(latencies: list[float], seconds: float) -> tuple[float, float, float]:
    ordered = sorted(latencies)
    return len(ordered) / seconds, ordered[len(ordered) // 2] * 1000, ordered[int(len(ordered) * 0.99)] * 1000


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    if caddy_binary() is None:
        print("caddy is not installed (apt-get install caddy)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp) / "site"
        site.mkdir(mode=0o755)
        (site / "index.html").write_bytes(BODY)
        (site / "index.html").chmod(0o644)
        port, https, http = free_port(), free_port(), free_port()
        run = ["docker", "run", "-d", "--rm", "-p", f"127.0.0.1:{port}:80", "-v", f"{site}:/usr/share/nginx/html:ro"]
        started = await asyncio.to_thread(subprocess.run, [*run, IMAGE], capture_output=True, text=True, check=True)
        container = started.stdout.strip()
        caddy = CaddyProcess(Path(tmp) / "caddy", f"127.0.0.1:{free_port()}")
        admin = CaddyAdmin(caddy.admin_url)
        try:
            await asyncio.to_thread(caddy.start)
            base = BaseConfig(caddy.admin_listen, f"127.0.0.1:{https}", http, "internal")
            await admin.load(base, [Route("cf-1-app", (NAME,), f"127.0.0.1:{port}")])
            for _ in range(100):
                if caddy.root_ca.exists():
                    break
                await asyncio.sleep(0.05)
            ctx = ssl.create_default_context(cafile=str(caddy.root_ca))
            sides = {
                "direct": (f"http://127.0.0.1:{port}/", None, None),
                "caddy": (f"https://127.0.0.1:{https}/", f"{NAME}:{https}", ctx),
            }
            for url, host, tls in sides.values():  # warm up: connections, the certificate, nginx
                for _ in range(50):
                    try:
                        await hammer(url, host, tls, 0.3, 2)
                        break
                    except (aiohttp.ClientError, RuntimeError, OSError):
                        await asyncio.sleep(0.1)
            results: dict[str, list[tuple[float, float, float]]] = {side: [] for side in sides}
            for round_no in range(args.rounds):
                order = list(sides) if round_no % 2 == 0 else list(reversed(sides))
                for side in order:
                    url, host, tls = sides[side]
                    latencies = await hammer(url, host, tls, args.seconds, args.connections)
                    results[side].append(figures(latencies, args.seconds))
        finally:
            await admin.aclose()
            await asyncio.to_thread(caddy.kill)
            await asyncio.to_thread(subprocess.run, ["docker", "rm", "-f", container], capture_output=True, check=False)
    print(f"{args.rounds} rounds x {args.seconds:g}s, {args.connections} keep-alive connections, {len(BODY)} B body")
    print(f"{'side':8} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
    med: dict[str, tuple[float, ...]] = {}
    for side, rows in results.items():
        med[side] = tuple(statistics.median(r[i] for r in rows) for i in range(3))
        print(f"{side:8} {med[side][0]:9.0f} {med[side][1]:8.2f} {med[side][2]:8.2f}")
    d, c = med["direct"], med["caddy"]
    print(f"caddy/direct: req/s x{c[0] / d[0]:.2f}, p50 x{c[1] / d[1]:.2f}, p99 x{c[2] / d[2]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
