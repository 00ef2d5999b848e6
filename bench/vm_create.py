"""Benchmark VM creation: CloudFaster versus the same PVE calls made directly with proxmoxer, one create and a burst.

Runs pvesim in a child process (loopback, realistic task durations: clone 2 s, start 1 s, resize 0.5 s) and
CloudFaster in its own process (with `cloudfaster serve`'s uvicorn settings) on 127.0.0.1, on each database asked for
(a fresh one).
Each round, the order of the two sides alternating from round to round:

- one create: direct (clone (full) → PUT config → resize → start on sv1, each task polled every POLL_S seconds, the
  interval CloudFaster polls at) and CloudFaster (``POST /vm`` until its operation has succeeded);
- a burst of ``--parallel`` creates at once: direct (the same sequence, one thread each, spread evenly over the nodes
  that have each OS's template) and CloudFaster (``--parallel`` ``POST /vm`` at once, 10 per user; wall time from the
  first POST to the last operation's ``finished_at``). Both sides' VMs are destroyed after each round, unmeasured.

Prints the raw rounds, the medians, the ratios and the VMs per node; exits 1 if a target is missed (burst at most
1.3 x direct on every database, one create at most 1.05 x).
Usage: .venv/bin/python bench/vm_create.py [--rounds 5] [--parallel 100] [--database all|sqlite|mariadb|postgres]
[--profile DIR] (py-spy samples of the server process during each CloudFaster burst)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
# Drop bench/ (it holds a pvesim.py) and put the repository first, for `bench.*` and the test helpers.
sys.path[:] = [str(REPO)] + [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import httpx  # noqa: E402
import yaml  # noqa: E402
from tests.support.databases import fresh_database  # noqa: E402

from bench.vm_direct import OSES, Direct, ssh_key  # noqa: E402
from bench.vm_server import ADMIN_KEY, Server, profiled  # noqa: E402

DURATIONS = {"qmclone": 2.0, "qmstart": 1.0, "resize": 0.5, "qmconfig": 0.1, "qmstop": 0.5, "qmdestroy": 0.5}
POLL_S = 0.1
BURST_TARGET = 1.3
SINGLE_TARGET = 1.05


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_pvesim(tmp: Path) -> tuple[subprocess.Popen[bytes], int, Path]:
    """pvesim in a child process; returns it, its port and its CA file."""
    config = tmp / "cluster.yaml"
    config.write_text(yaml.safe_dump({"task_durations": DURATIONS, "auth_failure_delay": 0}))
    port = free_port()
    code = "from pvesim.cli import main; main()"
    args = ["--host", "127.0.0.1", "--port", str(port), "--config", str(config), "--cert-dir", str(tmp / "tls")]
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.DEVNULL, cwd=tmp)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return proc, port, tmp / "tls" / "pvesim-ca.pem"
        time.sleep(0.05)
    proc.kill()
    raise SystemExit("pvesim did not start")


def body(name: str, os_name: str = "debian-12") -> dict[str, Any]:
    """A VMCreate body."""
    return {"name": name, "os": os_name, "cores": 2, "memory": 2048, "disk": 20, "sshkeys": [ssh_key()]}


async def until_done(client: httpx.AsyncClient, location: str, key: str, poll_s: float) -> dict[str, Any]:
    """Poll an operation until it ends."""
    while True:
        op: dict[str, Any] = (await client.get(location, headers={"X-API-Key": key})).json()
        if op["state"] not in ("pending", "running"):
            return op
        await asyncio.sleep(poll_s)


async def until_idle(client: httpx.AsyncClient, poll_s: float = 0.5) -> None:
    """Wait until no operation is pending or running: two list requests a poll, not one per operation (polling 100
    operations one by one would load the server being measured)."""
    admin = {"X-API-Key": ADMIN_KEY}
    while True:
        busy = [
            (await client.get("/operations", params={"state": state, "limit": 1}, headers=admin)).json()["items"]
            for state in ("pending", "running")
        ]
        if not any(busy):
            return
        await asyncio.sleep(poll_s)


async def new_user(client: httpx.AsyncClient, userid: str) -> str:
    """Register a user and return a key for them."""
    admin = {"X-API-Key": ADMIN_KEY}
    await client.post("/users", json={"userid": userid, "username": userid}, headers=admin)
    key: str = (await client.post("/keys", json={"userid": userid}, headers=admin)).json()["key"]
    return key


async def delete_all(client: httpx.AsyncClient, vmids: list[int]) -> None:
    """Delete VMs through the API (as the admin) and wait for every deletion."""
    admin = {"X-API-Key": ADMIN_KEY}
    answers = await asyncio.gather(*(client.delete(f"/vm/{vmid}", headers=admin) for vmid in vmids))
    await until_idle(client)
    ops = await asyncio.gather(*(until_done(client, r.headers["Location"], ADMIN_KEY, 0.5) for r in answers))
    failed = [op["error"] for op in ops if op["state"] != "succeeded"]
    if failed:
        raise RuntimeError(f"{len(failed)} deletions failed: {failed[:3]}")


async def cloudfaster_one(client: httpx.AsyncClient, key: str, name: str) -> tuple[float, int]:
    """POST /vm until the VM is enabled; seconds taken and the VMID."""
    start = time.perf_counter()
    resp = await client.post("/vm", json=body(name), headers={"X-API-Key": key})
    op = await until_done(client, resp.headers["Location"], key, 0.01)
    if op["state"] != "succeeded":
        raise RuntimeError(op["error"])
    return time.perf_counter() - start, int(op["result"]["vmid"])


def _at(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


async def cloudfaster_burst(
    client: httpx.AsyncClient, keys: list[str], count: int, tag: str
) -> tuple[float, dict[str, int], list[dict[str, Any]]]:
    """``count`` creates at once; wall time from the first POST to the last ``finished_at``, VMs per node, the ops."""
    start = time.time()
    posts = await asyncio.gather(
        *(
            client.post("/vm", json=body(f"{tag}-{n}", OSES[n % 5]), headers={"X-API-Key": keys[n % len(keys)]})
            for n in range(count)
        )
    )
    refused = [r.text for r in posts if r.status_code != 202]
    if refused:
        raise RuntimeError(f"{len(refused)} creates refused: {refused[:3]}")
    await until_idle(client)
    ops = await asyncio.gather(
        *(until_done(client, r.headers["Location"], keys[n % len(keys)], 0.5) for n, r in enumerate(posts))
    )
    failed = [op["error"] for op in ops if op["state"] != "succeeded"]
    if failed:
        raise RuntimeError(f"{len(failed)} creates failed: {failed[:3]}")
    wall = max(_at(op["finished_at"]) for op in ops) - start
    spread: dict[str, int] = {}
    for op in ops:
        spread[op["result"]["node"]] = spread.get(op["result"]["node"], 0) + 1
    return wall, dict(sorted(spread.items())), ops


class Cpu:
    """CPU seconds used since creation by the bench process (the client; the direct side's work), the CloudFaster
    server and pvesim."""

    def __init__(self, server_pid: int, pvesim_pid: int) -> None:
        self.pids = {"bench": os.getpid(), "CloudFaster": server_pid, "pvesim": pvesim_pid}
        self.start = {name: _cpu_s(pid) for name, pid in self.pids.items()}

    def __str__(self) -> str:
        spent = (f"{name} {_cpu_s(pid) - self.start[name]:.1f}" for name, pid in self.pids.items())
        return f"cpu s: {', '.join(spent)}"


def _cpu_s(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def step_summary(ops: list[dict[str, Any]]) -> str:
    """Median seconds of each step kind over a burst's operations, and of the wait before the first step."""
    spans: dict[str, list[float]] = {"queued": []}
    for op in ops:
        steps = [s for s in op["steps"] if s.get("finished_at")]
        if steps:
            spans["queued"].append(_at(steps[0]["started_at"]) - _at(op["created_at"]))
        for s in steps:
            spans.setdefault(s["name"].split("@")[0], []).append(_at(s["finished_at"]) - _at(s["started_at"]))
    return ", ".join(f"{name} {statistics.median(v):.2f}" for name, v in spans.items() if v)


async def run_database(args: argparse.Namespace, database: str, tmp: Path) -> dict[str, list[float]]:
    """Every round on one database; the raw figures per measure."""
    figures: dict[str, list[float]] = {"direct1": [], "cf1": [], "direct_burst": [], "cf_burst": []}
    async with AsyncExitStack() as stack:
        url = await stack.enter_async_context(fresh_database(database, tmp))
        proc, port, ca_file = start_pvesim(tmp / database)
        stack.callback(proc.wait, 30)
        stack.callback(proc.terminate)
        server = Server(tmp / database / "data", url, port, ca_file, POLL_S)
        base = stack.enter_context(server)
        direct = Direct(port, ca_file, POLL_S, args.parallel)
        stack.callback(direct.close)
        # Idle connections are dropped before uvicorn's 5 s keep-alive ends them: a burst on the other side can
        # leave the client idle that long, and a request on a connection the server is closing fails (ReadError).
        limits = httpx.Limits(keepalive_expiry=3.0)
        client = await stack.enter_async_context(httpx.AsyncClient(base_url=base, timeout=120, limits=limits))
        key = await new_user(client, "bench")
        keys = [await new_user(client, f"par{i}") for i in range(max(1, args.parallel // 10))]
        for r in range(args.rounds):
            cf_first = r % 2 == 1
            for side in ("cf", "direct") if cf_first else ("direct", "cf"):
                if side == "direct":
                    figures["direct1"].append(await asyncio.to_thread(direct.create, "sv1", 9000, 900_000 + r))
                    await asyncio.to_thread(direct.destroy, "sv1", 900_000 + r)
                else:
                    took, vmid = await cloudfaster_one(client, key, f"one-{r}")
                    figures["cf1"].append(took)
                    await delete_all(client, [vmid])
            for side in ("cf", "direct") if cf_first else ("direct", "cf"):
                cpu = Cpu(server.pid, proc.pid)
                if side == "direct":
                    wall, spread, made = await asyncio.to_thread(direct.burst, 910_000 + 1000 * r, args.parallel)
                    figures["direct_burst"].append(wall)
                    print(f"  [{database}] round {r + 1} direct burst {wall:.2f} s  {spread}  {cpu}")
                    await asyncio.to_thread(direct.destroy_all, made)
                else:
                    async with profiled(args.profile, f"{database}-round{r + 1}", server.pid):
                        wall, spread, ops = await cloudfaster_burst(client, keys, args.parallel, f"b{r}")
                    figures["cf_burst"].append(wall)
                    print(f"  [{database}] round {r + 1} CloudFaster burst {wall:.2f} s  {spread}  {cpu}")
                    print(f"    step medians (s): {step_summary(ops)}")
                    await delete_all(client, [int(op["result"]["vmid"]) for op in ops])
    return figures


def report(database: str, figures: dict[str, list[float]]) -> bool:
    """Print one database's figures; True when both targets are met."""
    med = {name: statistics.median(values) for name, values in figures.items()}
    single, burst = med["cf1"] / med["direct1"], med["cf_burst"] / med["direct_burst"]
    print(f"== {database}")
    for name, values in figures.items():
        print(f"  {name:13} median {med[name]:.3f} s  raw {[round(v, 3) for v in values]}")
    ok1, ok2 = single <= SINGLE_TARGET, burst <= BURST_TARGET
    print(f"  one create  CloudFaster/direct {single:.3f} (target ≤ {SINGLE_TARGET})  {'OK' if ok1 else 'MISSED'}")
    print(f"  burst       CloudFaster/direct {burst:.3f} (target ≤ {BURST_TARGET})  {'OK' if ok2 else 'MISSED'}")
    return ok1 and ok2


def main() -> None:
    """Run every database asked for, print, exit 1 when a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--parallel", type=int, default=100)
    parser.add_argument("--database", choices=["all", "sqlite", "mariadb", "postgres"], default="all")
    parser.add_argument("--profile", type=Path, default=None, help="write py-spy samples of each burst here")
    args = parser.parse_args()
    databases = ["sqlite", "mariadb", "postgres"] if args.database == "all" else [args.database]
    print(f"task durations {DURATIONS} (s); polling every {POLL_S} s on both sides; {args.parallel} per burst")
    results = {}
    with tempfile.TemporaryDirectory(prefix="cf-bench-") as tmp_dir:
        for database in databases:
            (Path(tmp_dir) / database).mkdir()
            results[database] = asyncio.run(run_database(args, database, Path(tmp_dir)))
    ok = [report(database, figures) for database, figures in results.items()]
    sys.exit(0 if all(ok) else 1)


if __name__ == "__main__":
    main()
