"""Authenticated GET of one resource vs a bare FastAPI route returning the same JSON, side by side.

Both apps run under the same uvicorn settings (one process, uvloop, httptools, no access log) on 127.0.0.1 and
are loaded in alternating rounds by the same client; the median of the per-round ratios is the figure. CloudFaster
runs on the embedded defaults (SQLite, in-process runner, rate limiter on with an unreachable limit) except for the
Proxmox sandbox, which is switched off as in production: an in-process simulator is a newcomer's convenience, not
part of the API's read path. Also prints the idle resident memory of that process.

Usage: python bench/api_read.py [--seconds 5] [--rounds 5] [--connections 32]
Load comes from ``wrk`` when it is installed (apt-get install wrk), else from an aiohttp client.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import httpx

REPO = Path(__file__).resolve().parents[1]
ADMIN_KEY = "cf_000000000000_bench-admin-key-with-plenty-of-entropy-0123456789"
UVICORN_ARGS = "loop='uvloop', http='httptools', log_level='warning', access_log=False"

BARE_APP = f"""
import uvicorn
from fastapi import FastAPI
app = FastAPI()
BODY = {{}}
@app.get("/users/{{userid}}")
async def read(userid: str) -> dict[str, str]:
    return BODY
if __name__ == "__main__":
    import json, sys
    BODY.update(json.loads(sys.argv[2]))
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), {UVICORN_ARGS})
"""

CLOUDFASTER_APP = f"""
import sys, uvicorn
from cloudfaster.api.app import create_app
from cloudfaster.cli import load_settings
uvicorn.run(create_app(load_settings()), host="127.0.0.1", port=int(sys.argv[1]), {UVICORN_ARGS})
"""


@dataclass
class Result:
    """Throughput and latency of one run."""

    rps: float
    p50_ms: float
    p99_ms: float


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    """Block until the server answers /docs or /users/x."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


def rss_mb(pid: int) -> float:
    """Resident set size of a process in MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmRSS:\s+(\d+) kB", status)
    return int(match.group(1)) / 1024 if match else float("nan")


def wrk_load(url: str, key: str, seconds: int, connections: int) -> Result:
    """Load ``url`` with wrk and parse its report."""
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-H", f"X-API-Key: {key}", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    if "Non-2xx" in out:
        raise RuntimeError("non-2xx responses:\n" + out)

    def pct(label: str) -> float:
        value, unit = re.search(rf"\s{label}%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    return Result(rps=rps, p50_ms=pct("50"), p99_ms=pct("99"))


async def aiohttp_load(url: str, key: str, seconds: int, connections: int) -> Result:
    """Load ``url`` with an aiohttp client (when wrk is missing)."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector, headers={"X-API-Key": key}) as session:

        async def worker() -> None:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                async with session.get(url) as resp:
                    await resp.read()
                    if resp.status != 200:
                        raise RuntimeError(f"status {resp.status}")
                latencies.append(time.perf_counter() - started)

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    return Result(
        rps=len(latencies) / elapsed,
        p50_ms=latencies[len(latencies) // 2] * 1000,
        p99_ms=latencies[int(len(latencies) * 0.99)] * 1000,
    )


def load(url: str, key: str, seconds: int, connections: int) -> Result:
    """Warm up, then measure."""
    if shutil.which("wrk"):
        wrk_load(url, key, 3, connections)
        return wrk_load(url, key, seconds, connections)
    asyncio.run(aiohttp_load(url, key, 3, connections))
    return asyncio.run(aiohttp_load(url, key, seconds, connections))


def start(code: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Run a server script in a fresh interpreter."""
    return subprocess.Popen([sys.executable, "-c", code, *args], env=env, cwd=REPO)


def main() -> None:
    """Run both servers and load them in alternating rounds; print the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5, help="length of one measured round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("CLOUDFASTER_")},
            "CLOUDFASTER_DATA_DIR": tmp,
            "CLOUDFASTER_ADMIN_API_KEY": ADMIN_KEY,
            "CLOUDFASTER_LOGGING__CONSOLE_FORMAT": "plain",
            "CLOUDFASTER_LOGGING__LEVEL": "WARNING",
            # The limiter stays on (its cost is measured) with a limit the load cannot reach.
            "CLOUDFASTER_RATE_LIMIT__PER_KEY": "10000000/second",
            "CLOUDFASTER_PROXMOX__SANDBOX": "false",
        }
        cf_port, bare_port = free_port(), free_port()
        cf_base = f"http://127.0.0.1:{cf_port}"
        cf = start(CLOUDFASTER_APP, [str(cf_port)], env)
        bare: subprocess.Popen[bytes] | None = None
        try:
            wait_ready(f"{cf_base}/healthz", cf)
            time.sleep(1)
            idle_rss = rss_mb(cf.pid)
            admin = {"X-API-Key": ADMIN_KEY}
            httpx.post(f"{cf_base}/users", json={"userid": "bench", "username": "Bench User"}, headers=admin)
            key = httpx.post(f"{cf_base}/keys", json={"userid": "bench"}, headers=admin).json()["key"]
            cf_url = f"{cf_base}/users/bench"
            body = httpx.get(cf_url, headers={"X-API-Key": key}).json()
            bare = start(BARE_APP, [str(bare_port), json.dumps(body)], env)
            bare_url = f"http://127.0.0.1:{bare_port}/users/bench"
            wait_ready(bare_url, bare)
            assert httpx.get(bare_url).json() == body, "the bare route must return the same JSON"
            cf_runs, bare_runs = [], []
            for _ in range(args.rounds):
                bare_runs.append(load(bare_url, "unused", args.seconds, args.connections))
                cf_runs.append(load(cf_url, key, args.seconds, args.connections))
            loaded_rss = rss_mb(cf.pid)
        finally:
            for proc in (cf, bare):
                if proc is not None:
                    proc.terminate()
                    proc.wait()

    def median(runs: list[Result]) -> Result:
        return sorted(runs, key=lambda r: r.rps)[len(runs) // 2]

    cf_result, bare_result = median(cf_runs), median(bare_runs)
    # Each round loads the two servers back to back, so a pair sees the same background noise (CPU steal on a
    # shared 2-core machine swings single runs by ±30%): the median of the per-round ratios is the figure.
    pair_ratios = sorted(c.rps / b.rps for c, b in zip(cf_runs, bare_runs, strict=True))
    ratio = pair_ratios[len(pair_ratios) // 2]
    tool = "wrk" if shutil.which("wrk") else "aiohttp"
    print(
        f"load: {tool}, {args.connections} connections, {args.rounds} alternating rounds of {args.seconds}s, 127.0.0.1"
    )
    print(f"{'route (median round)':<42}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}")
    for name, r in (
        ("bare FastAPI GET /users/{userid}", bare_result),
        ("CloudFaster GET /users/{userid} + auth", cf_result),
    ):
        print(f"{name:<42}{r.rps:>10.0f}{r.p50_ms:>10.2f}{r.p99_ms:>10.2f}")
    print(f"all rounds req/s: bare {[round(r.rps) for r in bare_runs]}, CloudFaster {[round(r.rps) for r in cf_runs]}")
    print(f"per-round ratios: {[round(r, 2) for r in pair_ratios]}")
    print(f"throughput ratio (CloudFaster / bare, median of rounds): {ratio:.2f}  (target >= 0.60)")
    print(
        f"CloudFaster resident memory: idle {idle_rss:.0f} MB, after the load {loaded_rss:.0f} MB",
        "(target idle < 150 MB)",
    )


if __name__ == "__main__":
    main()
