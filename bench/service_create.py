"""Service creation through the API vs `docker compose up -d --wait` on the same rendered files, side by side.

One CloudFaster server (uvicorn, SQLite, in-process runner) on 127.0.0.1 and the local Docker Engine with the
stand-in images. Each round, in turn first or second (the order swaps every round):
  - API: ``POST /service`` (static, a ZIP of N files, ~5 MB) until its URL serves index.html, then a delete (the
    first one's service directory is copied, Filebrowser's fresh state included);
  - bare: `docker compose -p ... up -d --wait` on a copy of those files, until the same URL serves; then `down -v`.
Then C concurrent creates through the API, each timed to its URL serving, and C concurrent deletes.

Prints every round, the medians and their ratio; exits 1 when the ratio misses the target (API <= 1.08 x bare).

Usage: python bench/service_create.py [--rounds 5] [--files 500] [--mb 5] [--concurrent 20] [--target 1.08]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
ADMIN_KEY = "cf_000000000000_bench-admin-key-with-plenty-of-entropy-0123456789"
SERVER = """
import sys, uvicorn
from cloudfaster.api.app import create_app
from cloudfaster.cli import load_settings
uvicorn.run(create_app(load_settings()), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
            access_log=False)
"""
MARKER = b"cloudfaster-bench-index"


def make_site(files: int, total_mb: float) -> bytes:
    """A ZIP of ``files`` files (~``total_mb`` MB of incompressible data) with an index.html."""
    size = int(total_mb * 1024 * 1024 / files)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("index.html", b"<h1>" + MARKER + b"</h1>")
        for i in range(files - 1):
            zf.writestr(f"assets/{i // 50}/file{i}.bin", os.urandom(size))
    return buffer.getvalue()


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def until_serving(client: httpx.AsyncClient, url: str, timeout_s: float = 180) -> None:
    """Poll ``url`` every 20 ms until it answers 200 with the marker."""
    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline:
        try:
            resp = await client.get(url, timeout=2)
            if resp.status_code == 200 and MARKER in resp.content:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.02)
    raise RuntimeError(f"{url} did not serve within {timeout_s}s")


async def api_create(client: httpx.AsyncClient, key: str, name: str, site: bytes) -> tuple[float, dict[str, Any]]:
    """``POST /service?wait=`` (answers when the operation, i.e. its `up --wait`, has ended), then until the app
    URL serves; (seconds, service). The bare side is timed the same way: `up --wait`, then the URL."""
    started = time.perf_counter()
    resp = await client.post(
        "/service?wait=300",
        headers={"X-API-Key": key},
        data={"service_name": name, "service_types": "static"},
        files={"zip_file": ("site.zip", site, "application/zip")},
    )
    body: dict[str, Any] = resp.json()
    if resp.status_code != 201 or body["status"] != "running":
        raise RuntimeError(f"create failed: {resp.status_code} {resp.text}")
    await until_serving(client, body["urls"]["app"])
    elapsed = time.perf_counter() - started
    op = (await client.get(body["operation"]["url"], headers={"X-API-Key": key})).json()
    body["_up_s"] = step_seconds(op, "up")
    return elapsed, body


def step_seconds(op: dict[str, Any], name: str) -> float:
    """How long one step of an operation took."""
    from datetime import datetime

    [step] = [s for s in op["steps"] if s["name"] == name and s["state"] == "done"]
    return (datetime.fromisoformat(step["finished_at"]) - datetime.fromisoformat(step["started_at"])).total_seconds()


async def api_delete(client: httpx.AsyncClient, key: str, service_id: int) -> None:
    """DELETE /service/{id} and wait for it."""
    resp = await client.delete(f"/service/{service_id}?wait=120", headers={"X-API-Key": key})
    if resp.json().get("status") != "deleted":
        raise RuntimeError(f"delete failed: {resp.text}")


def compose_version() -> str:
    """`docker compose version --short`."""
    return subprocess.run(["docker", "compose", "version", "--short"], capture_output=True, text=True).stdout


def compose(*args: str) -> None:
    """Run `docker compose ...` and fail loudly."""
    subprocess.run(["docker", "compose", *args], check=True, capture_output=True, timeout=300)


async def bare_up(client: httpx.AsyncClient, project: str, files: Path, app_url: str) -> float:
    """`docker compose up -d --wait` on a copy of the rendered files, until the URL serves; seconds."""
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        "docker", "compose", "-p", project, "-f", str(files / "docker-compose.yml"), "up", "-d", "--wait",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"bare up failed: {stderr.decode()}")
    await until_serving(client, app_url)
    return time.perf_counter() - started


def copy_service_dir(services: Path, userid: str, target: Path) -> None:
    """Copy the only service directory of ``userid``, with Filebrowser's state reset to fresh."""
    [source] = [p for p in (services / userid).iterdir() if p.is_dir()]
    subprocess.run(["cp", "-a", str(source), str(target)], check=True)  # -a keeps the owners (uid 1000)
    for path in (target / "filebrowser" / "database").iterdir():
        path.unlink()


@dataclass
class Server:
    """A CloudFaster server process."""

    process: subprocess.Popen[bytes]
    base: str
    services: Path
    namespace: str


def start_server(tmp: Path, healthcheck_s: float) -> Server:
    """Start CloudFaster on a free loopback port."""
    port = free_port()
    namespace = f"bench{secrets.token_hex(3)}-"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CLOUDFASTER_")},
        "CLOUDFASTER_DATA_DIR": str(tmp / "data"),
        "CLOUDFASTER_ADMIN_API_KEY": ADMIN_KEY,
        "CLOUDFASTER_PROXY__SANDBOX": "false",  # the published port's URL, as the bare side uses
        "CLOUDFASTER_LOGGING__CONSOLE_FORMAT": "plain",
        "CLOUDFASTER_LOGGING__LEVEL": "WARNING",
        "CLOUDFASTER_RATE_LIMIT__PER_KEY": "10000000/second",
        "CLOUDFASTER_DOCKER__PROJECT_NAMESPACE": namespace,
        "CLOUDFASTER_DOCKER__HEALTHCHECK_INTERVAL_S": str(healthcheck_s),
        "CLOUDFASTER_QUOTAS__MAX_SERVICES": "1000",
    }
    log = (tmp / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(port)], env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return Server(process, base, tmp / "data" / "services", namespace)
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError("server did not start")


def leftovers(prefix: str) -> list[str]:
    """Compose projects with this prefix that Docker still has (containers, networks, volumes)."""
    label = '{{.Label "com.docker.compose.project"}}'
    found: set[str] = set()
    for kind in (["ps", "-a"], ["network", "ls"], ["volume", "ls"]):
        out = subprocess.run(["docker", *kind, "--format", label], capture_output=True, text=True, check=False)
        found.update(line for line in out.stdout.split() if line.startswith(prefix))
    return sorted(found)


async def sequential(
    client: httpx.AsyncClient, server: Server, key: str, site: bytes, rounds: int, tmp: Path
) -> tuple[list[float], list[float], list[float]]:
    """Alternating rounds, the order swapped every round so that going second favours neither side: an API create
    (timed) and delete, and a bare up (timed) and down on a copy of the files the first API create rendered."""
    bare_prefix = f"cf-{server.namespace}bare-"
    api_times, api_up, bare_times = [], [], []
    pristine, app_url = tmp / "rendered", ""

    async def api_side(i: int) -> None:
        nonlocal app_url
        elapsed, body = await api_create(client, key, f"round{i}", site)
        api_times.append(elapsed)
        api_up.append(body["_up_s"])
        if not app_url:
            await asyncio.to_thread(copy_service_dir, server.services, "bench", pristine)
            app_url = f"http://127.0.0.1:{body['ports']['app']}/"
        await api_delete(client, key, body["id"])

    async def bare_side(i: int) -> None:
        copy = tmp / f"bare{i}"
        await asyncio.to_thread(subprocess.run, ["cp", "-a", str(pristine), str(copy)], check=True)
        bare_times.append(await bare_up(client, f"{bare_prefix}{i}", copy, app_url))
        await asyncio.to_thread(compose, "-p", f"{bare_prefix}{i}", "down", "--volumes", "--timeout", "2")

    for i in range(rounds):
        if i % 2 == 0:
            await api_side(i)
            await bare_side(i)
        else:
            await bare_side(i)
            await api_side(i)
    return api_times, api_up, bare_times


async def concurrent(client: httpx.AsyncClient, key: str, site: bytes, count: int) -> None:
    """``count`` creates at once, each timed to its URL serving; then ``count`` deletes at once."""
    started = time.perf_counter()
    results = await asyncio.gather(*(api_create(client, key, f"many{i}", site) for i in range(count)))
    wall = time.perf_counter() - started
    ports = [p for _, body in results for p in body["ports"].values()]
    started = time.perf_counter()
    await asyncio.gather(*(api_delete(client, key, body["id"]) for _, body in results))
    delete_wall = time.perf_counter() - started
    latencies = sorted(elapsed for elapsed, _ in results)
    print(f"concurrent: {count} creates at once")
    p50, worst = latencies[len(latencies) // 2], latencies[-1]
    print(f"  all serving after {wall:.2f}s; per create p50 {p50:.2f}s, max {worst:.2f}s")
    print(f"  host ports: {len(ports)} allocated, {len(set(ports))} distinct")
    print(f"  {count} deletes at once: {delete_wall:.2f}s")


def seconds(values: list[float]) -> str:
    """The median, then every value."""
    return f"median {statistics.median(values):.2f}s  ({', '.join(f'{v:.2f}' for v in values)})"


async def run(args: argparse.Namespace, tmp: Path) -> float:
    """Both measurements; prints the figures as they come; the ratio of the medians."""
    site = make_site(args.files, args.mb)
    version = (await asyncio.to_thread(compose_version)).strip()
    server = start_server(tmp, args.healthcheck)
    ratio = float("nan")
    print(f"site: static, {args.files} files, {len(site) / 1e6:.1f} MB ZIP; healthcheck interval {args.healthcheck}s")
    print(f"docker compose {version}; server, containers and client all on 127.0.0.1")
    try:
        async with httpx.AsyncClient(base_url=server.base, timeout=300) as client:
            admin = {"X-API-Key": ADMIN_KEY}
            await client.post("/users", json={"userid": "bench", "username": "Bench"}, headers=admin)
            key = (await client.post("/keys", json={"userid": "bench"}, headers=admin)).json()["key"]
            await api_delete(client, key, (await api_create(client, key, "warmup", site))[1]["id"])
            api_times, api_up, bare_times = await sequential(client, server, key, site, args.rounds, tmp)
            ratio = statistics.median(api_times) / statistics.median(bare_times)
            print(f"rounds: {args.rounds}, alternating (API create and bare up on a copy of the same rendered files, "
                  "the order swapped every round)")  # fmt: skip
            print(f"  API  POST /service -> URL serving : {seconds(api_times)}")
            print(f"    of which the `up --wait` step  : {seconds(api_up)}")
            print(f"  bare compose up -d --wait -> URL : {seconds(bare_times)}")
            overhead = [api - bare for api, bare in zip(api_times, bare_times, strict=True)]
            print(f"  API - bare, per round            : {seconds(overhead)}")
            print(f"  ratio API / bare (medians)       : {ratio:.3f}x  (target <= {args.target:.2f}x)")
            if args.concurrent:
                await concurrent(client, key, site, args.concurrent)
    finally:
        server.process.terminate()
        server.process.wait(30)
        left = await asyncio.to_thread(leftovers, f"cf-{server.namespace}")
        for project in left:
            await asyncio.to_thread(compose, "-p", project, "down", "--volumes", "--timeout", "1")
    print(f"leftover compose projects: {', '.join(left) or 'none'}")
    return ratio


def main() -> None:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--mb", type=float, default=5.0)
    parser.add_argument("--concurrent", type=int, default=20)
    parser.add_argument("--healthcheck", type=float, default=1.0, help="healthcheck interval of the containers (s)")
    parser.add_argument("--target", type=float, default=1.08, help="the highest ratio API / bare that passes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ratio = asyncio.run(run(args, Path(tmp)))
    if not ratio <= args.target:
        print(f"FAIL: ratio {ratio:.3f}x is over the target {args.target:.2f}x")
        sys.exit(1)
    print(f"OK: ratio {ratio:.3f}x within the target {args.target:.2f}x")


if __name__ == "__main__":
    main()
