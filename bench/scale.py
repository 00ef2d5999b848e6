"""Benchmark scale-out on loopback: operations per second with 1 vs 2 workers on the same load, and API read
throughput with 1 vs 2 API replicas, side by side in one run.

Real processes (`cloudfaster serve --no-worker`, `cloudfaster worker`) on a fresh MariaDB database per run and
RabbitMQ (or Redis), with pvesim in this process (very short tasks, so the workers' own work dominates). Needs the
test rig (MariaDB, the broker). Everything binds to 127.0.0.1 and is stopped at the end. On a 2-core machine the
load generator, pvesim and the servers share the same two cores: read the ratios with that in mind.
Usage: .venv/bin/python bench/scale.py [--vms 100] [--read-seconds 5] [--broker rabbitmq|redis]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

REPO = Path(__file__).resolve().parents[1]
# Drop bench/ (it holds a pvesim.py) and put the repository first, for `pvesim` and the test helpers.
sys.path[:] = [str(REPO)] + [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from pvesim.config import SimConfig  # noqa: E402
from pvesim.testing import PveSim, start_pvesim  # noqa: E402
from tests.scale.client import create_vms, new_user, replicas, wait_ops  # noqa: E402
from tests.scale.cluster import Cluster, cluster_settings, running_cluster  # noqa: E402

MARIADB_ADMIN = "mysql+aiomysql://root@127.0.0.1:3306/"


async def fresh_db() -> tuple[str, str]:
    """Create an empty MariaDB database; returns (url, name)."""
    name = f"cf_bench_{uuid.uuid4().hex[:10]}"
    engine = create_async_engine(MARIADB_ADMIN, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(f"CREATE DATABASE {name} CHARACTER SET utf8mb4"))
    await engine.dispose()
    return f"mysql+aiomysql://root@127.0.0.1:3306/{name}?charset=utf8mb4", name


async def drop_db(name: str) -> None:
    """Drop a bench database."""
    engine = create_async_engine(MARIADB_ADMIN, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
    await engine.dispose()


def settings_for(url: str, broker: str, root: Path, sim: PveSim) -> dict[str, Any]:
    """Cluster settings with the bench's database and broker."""
    return cluster_settings(database_url=url, broker=broker, root=root, sim=sim, namespace="bench-", port_start=32600)


async def ops_per_second(cluster: Cluster, vms: int) -> float:
    """Submit ``vms`` creates through the replicas and wait for all; operations per second end to end."""
    api = replicas(cluster)
    try:
        users = [await new_user(api, f"bench{i}") for i in range(4)]
        started = time.monotonic()
        created = await create_vms(api, users, vms, "b")
        ops = await wait_ops(api, list(created), timeout_s=600)
        elapsed = time.monotonic() - started
        failed = [o for o in ops.values() if o["state"] != "succeeded"]
        if failed:
            raise SystemExit(f"{len(failed)} operations failed, e.g. {failed[0]['error']}")
        return vms / elapsed
    finally:
        await api.aclose()


async def reads_per_second(cluster: Cluster, seconds: float, connections: int = 32) -> float:
    """Authenticated ``GET /operations/{id}`` (a database read; ``GET /vm/{vmid}`` would also ask Proxmox) spread
    evenly over the replicas by ``connections`` clients."""
    api = replicas(cluster)
    try:
        user = await new_user(api, "reader")
        [op_id] = await create_vms(api, [user], 1, "r")
    finally:
        await api.aclose()
    urls = [f"{p.url}/operations/{op_id}" for p in cluster.apis]
    done = 0
    errors = 0
    deadline = time.monotonic() + seconds

    async def client(session: aiohttp.ClientSession, url: str) -> None:
        nonlocal done, errors
        while time.monotonic() < deadline:
            async with session.get(url, headers=user) as resp:
                await resp.read()
                if resp.status == 200:
                    done += 1
                else:
                    errors += 1

    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.monotonic()
        await asyncio.gather(*(client(session, urls[i % len(urls)]) for i in range(connections)))
        elapsed = time.monotonic() - started
    if errors:
        print(f"  ({errors} non-200 answers)")
    return done / elapsed


async def run(args: argparse.Namespace) -> None:
    """Run both comparisons and print the table."""
    config = SimConfig(auth_failure_delay=0.0, default_task_duration=0.02)
    config.task_durations.update({"qmclone": 0.05, "qmstart": 0.02})
    results: dict[str, float] = {}
    with start_pvesim(config) as sim:
        for label, apis, workers, what in (
            ("ops/s, 1 worker", 1, 1, "ops"),
            ("ops/s, 2 workers", 1, 2, "ops"),
            ("reads/s, 1 replica", 1, 1, "reads"),
            ("reads/s, 2 replicas", 2, 1, "reads"),
        ):
            url, name = await fresh_db()
            root = Path(tempfile.mkdtemp(prefix="cf-bench-scale-"))
            try:
                with running_cluster(root, settings_for(url, args.broker, root, sim), apis=apis, workers=workers) as c:
                    if what == "ops":
                        results[label] = await ops_per_second(c, args.vms)
                    else:
                        results[label] = await reads_per_second(c, args.read_seconds)
            finally:
                await drop_db(name)
            print(f"{label:>22}: {results[label]:8.1f}")
    ops_ratio = results["ops/s, 2 workers"] / results["ops/s, 1 worker"]
    read_ratio = results["reads/s, 2 replicas"] / results["reads/s, 1 replica"]
    print()
    print(f"machine: {os.cpu_count()} cores; broker {args.broker}; MariaDB; {args.vms} VM creates per run")
    one, two = results["ops/s, 1 worker"], results["ops/s, 2 workers"]
    print(f"operations/s  1 worker {one:.1f}  2 workers {two:.1f}  ratio {ops_ratio:.2f}x")
    one, two = results["reads/s, 1 replica"], results["reads/s, 2 replicas"]
    print(f"reads/s       1 replica {one:.0f}  2 replicas {two:.0f}  ratio {read_ratio:.2f}x")


def main() -> None:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--vms", type=int, default=100)
    parser.add_argument("--read-seconds", type=float, default=5.0)
    parser.add_argument("--broker", choices=["rabbitmq", "redis"], default="rabbitmq")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
