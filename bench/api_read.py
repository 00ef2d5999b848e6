"""Authenticated GET of one resource vs a bare FastAPI route returning the same JSON, side by side.

CloudFaster runs as ``cloudfaster serve`` itself; the bare app runs under the same uvicorn settings (one process,
uvloop and httptools as uvicorn picks them, proxy headers on, no access log) on 127.0.0.1. Both are loaded in
alternating rounds by the same client; the median of the per-round ratios is the figure. CloudFaster runs on the
embedded defaults (SQLite, in-process runner, rate limiter on with an unreachable limit) except for the Proxmox
sandbox, which is switched off as in production: an in-process simulator is a newcomer's convenience, not part of
the API's read path. Also prints the idle resident memory of ``cloudfaster serve`` on that configuration, at the
first start (which migrates a new database) and after a restart on the same data directory.

Targets (exit 1 when one is missed): throughput >= 0.80 x bare, p99 <= 2 x bare, idle memory after a restart
< 90 MB.

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
import statistics
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
# The settings ``cloudfaster serve`` gives uvicorn (cli._serve).
UVICORN_ARGS = "log_level='warning', access_log=False, proxy_headers=True"
MIN_THROUGHPUT_RATIO = 0.80
MAX_P99_RATIO = 2.0
MAX_IDLE_MB = 90.0

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

CLOUDFASTER_APP = """
import sys
from cloudfaster.cli import main
main(["serve", "--port", sys.argv[1]])
"""


@dataclass
class Result:
    """Throughput and latency of one run."""

    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us: float = float("nan")  # the server's CPU time per request (user + system)


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


def cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(url: str, key: str, seconds: int, connections: int, pid: int) -> Result:
    """Warm up, then measure (with the server's CPU time per request, which background load disturbs less)."""
    if shutil.which("wrk"):
        wrk_load(url, key, 3, connections)
        before = cpu_s(pid)
        result = wrk_load(url, key, seconds, connections)
    else:
        asyncio.run(aiohttp_load(url, key, 3, connections))
        before = cpu_s(pid)
        result = asyncio.run(aiohttp_load(url, key, seconds, connections))
    result.cpu_us = (cpu_s(pid) - before) / (result.rps * seconds) * 1e6
    return result


def start(code: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Run a server script in a fresh interpreter."""
    return subprocess.Popen([sys.executable, "-c", code, *args], env=env, cwd=REPO)


def idle_rss(env: dict[str, str]) -> float:
    """Resident memory of an idle ``cloudfaster serve`` a second after it answers /healthz."""
    port = free_port()
    proc = start(CLOUDFASTER_APP, [str(port)], env)
    try:
        wait_ready(f"http://127.0.0.1:{port}/healthz", proc)
        time.sleep(1)
        return rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait()


def main() -> None:
    """Run both servers and load them in alternating rounds; print every round, the medians and the verdict."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5, help="length of one measured round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("CLOUDFASTER_")},
            "CLOUDFASTER_DATA_DIR": str(Path(tmp) / "data"),
            "CLOUDFASTER_ADMIN_API_KEY": ADMIN_KEY,
            "CLOUDFASTER_LOGGING__CONSOLE_FORMAT": "plain",
            "CLOUDFASTER_LOGGING__LEVEL": "WARNING",
            # The limiter stays on (its cost is measured) with a limit the load cannot reach.
            "CLOUDFASTER_RATE_LIMIT__PER_KEY": "10000000/second",
            "CLOUDFASTER_PROXMOX__SANDBOX": "false",
        }
        first_rss = idle_rss(env)  # a new data directory: the first start migrates the database
        cf_port, bare_port = free_port(), free_port()
        cf_base = f"http://127.0.0.1:{cf_port}"
        cf = start(CLOUDFASTER_APP, [str(cf_port)], env)
        bare: subprocess.Popen[bytes] | None = None
        try:
            wait_ready(f"{cf_base}/healthz", cf)
            time.sleep(1)
            restart_rss = rss_mb(cf.pid)
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
                bare_runs.append(load(bare_url, "unused", args.seconds, args.connections, bare.pid))
                cf_runs.append(load(cf_url, key, args.seconds, args.connections, cf.pid))
            loaded_rss = rss_mb(cf.pid)
        finally:
            for proc in (cf, bare):
                if proc is not None:
                    proc.terminate()
                    proc.wait()

    tool = "wrk" if shutil.which("wrk") else "aiohttp"
    print(
        f"load: {tool}, {args.connections} connections, {args.rounds} alternating rounds of {args.seconds}s, 127.0.0.1"
    )
    print(
        f"{'round':<7}{'bare req/s':>11}{'p99 ms':>9}{'CPU us':>8}{'CF req/s':>11}{'p99 ms':>9}{'CPU us':>8}"
        f"{'req/s x':>9}{'p99 x':>7}{'CPU x':>7}"
    )
    for n, (b, c) in enumerate(zip(bare_runs, cf_runs, strict=True), 1):
        print(
            f"{n:<7}{b.rps:>11.0f}{b.p99_ms:>9.2f}{b.cpu_us:>8.0f}{c.rps:>11.0f}{c.p99_ms:>9.2f}{c.cpu_us:>8.0f}"
            f"{c.rps / b.rps:>9.2f}{c.p99_ms / b.p99_ms:>7.2f}{c.cpu_us / b.cpu_us:>7.2f}"
        )
    # Each round loads the two servers back to back, so a pair sees the same background noise (CPU steal on a
    # shared 2-core machine swings single runs by +-30%): the medians of the per-round ratios are the figures.
    ratio = statistics.median(c.rps / b.rps for c, b in zip(cf_runs, bare_runs, strict=True))
    p99_ratio = statistics.median(c.p99_ms / b.p99_ms for c, b in zip(cf_runs, bare_runs, strict=True))
    med = statistics.median
    cpu_ratio = med(c.cpu_us / b.cpu_us for c, b in zip(cf_runs, bare_runs, strict=True))
    print(
        f"median req/s: bare {med(r.rps for r in bare_runs):.0f}, CloudFaster {med(r.rps for r in cf_runs):.0f}; "
        f"median p99 ms: bare {med(r.p99_ms for r in bare_runs):.2f}, CloudFaster {med(r.p99_ms for r in cf_runs):.2f}"
    )
    verdicts = [
        (f"throughput ratio (CloudFaster / bare, median of rounds): {ratio:.2f}", ratio >= MIN_THROUGHPUT_RATIO,
         f">= {MIN_THROUGHPUT_RATIO:.2f}"),
        (f"p99 ratio (CloudFaster / bare, median of rounds): {p99_ratio:.2f}", p99_ratio <= MAX_P99_RATIO,
         f"<= {MAX_P99_RATIO:.1f}"),
        (f"idle resident memory of cloudfaster serve after a restart: {restart_rss:.0f} MB", restart_rss < MAX_IDLE_MB,
         f"< {MAX_IDLE_MB:.0f} MB"),
    ]  # fmt: skip
    for text, met, target in verdicts:
        print(f"{text}  (target {target}: {'met' if met else 'MISSED'})")
    print(
        f"server CPU per request, CloudFaster / bare (median of rounds; not a target, steadier on a busy "
        f"machine): {cpu_ratio:.2f}, i.e. a throughput ratio of {1 / cpu_ratio:.2f} when the server is the limit"
    )
    print(f"idle resident memory at the first start (migrating a new database): {first_rss:.0f} MB; "
          f"after the load: {loaded_rss:.0f} MB")  # fmt: skip
    if not all(met for _, met, _ in verdicts):
        sys.exit(1)


if __name__ == "__main__":
    main()
