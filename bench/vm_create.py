"""Benchmark VM creation: CloudFaster end to end versus the same PVE calls made directly, and 100 in parallel.

Runs pvesim in a child process (loopback, realistic task durations: clone 2 s, start 1 s, resize 0.5 s) and
CloudFaster in this process behind a real uvicorn server on 127.0.0.1. Side by side, alternating:

- direct: clone (full) → PUT config (cores, memory, cloud-init user, sshkeys) → resize → start, each task polled
  with proxmoxer every POLL_S seconds, the same interval CloudFaster polls at;
- CloudFaster: ``POST /vm`` until its operation has succeeded (the VM is ``enabled``).

Then 100 creates in parallel over sv1…sv5. Prints the figures and the ratio (target: CloudFaster at most 1.10 x direct);
exits 1 if the target is missed. Usage: .venv/bin/python bench/vm_create.py [--runs 5] [--parallel 100]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import uvicorn
import yaml
from proxmoxer import ProxmoxAPI

from cloudfaster.api.app import create_app
from cloudfaster.settings import Settings

DURATIONS = {"qmclone": 2.0, "qmstart": 1.0, "resize": 0.5, "qmconfig": 0.1, "qmstop": 0.5, "qmdestroy": 0.5}
POLL_S = 0.1
TOKEN_ID, TOKEN_SECRET = "root@pam!cloudfaster", "5b0f8a8e-5bc1-4b52-9a8f-1c6d2f0e7a11"
ADMIN_KEY = "cf_000000000000_bench-admin-key-with-plenty-of-entropy-0123456789"
TARGET_RATIO = 1.10
OSES = ["debian-12", "debian-13", "ubuntu-22.04", "ubuntu-24.04", "rocky-9"]


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ssh_key() -> str:
    """A well-formed ed25519 public key line."""
    blob = struct.pack(">I", 11) + b"ssh-ed25519" + struct.pack(">I", 32) + os.urandom(32)
    return f"ssh-ed25519 {base64.b64encode(blob).decode()} bench@cloudfaster"


def start_pvesim(tmp: Path) -> tuple[subprocess.Popen[bytes], int, Path]:
    """pvesim in a child process; returns it, its port and its CA file."""
    config = tmp / "cluster.yaml"
    config.write_text(yaml.safe_dump({"task_durations": DURATIONS, "auth_failure_delay": 0}))
    port = free_port()
    code = "from pvesim.cli import main; main()"
    args = ["--host", "127.0.0.1", "--port", str(port), "--config", str(config), "--cert-dir", str(tmp / "tls")]
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return proc, port, tmp / "tls" / "pvesim-ca.pem"
        time.sleep(0.05)
    proc.kill()
    raise SystemExit("pvesim did not start")


def wait_task(px: Any, node: str, upid: str) -> None:
    """Poll a task every POLL_S until it stops OK."""
    while True:
        status = px.nodes(node).tasks(upid).status.get()
        if status["status"] == "stopped":
            if status["exitstatus"] != "OK":
                raise RuntimeError(status["exitstatus"])
            return
        time.sleep(POLL_S)


def direct_create(px: Any, vmid: int) -> float:
    """The create sequence driven directly with proxmoxer on sv1; seconds taken."""
    node, vm = "sv1", px.nodes("sv1").qemu(vmid)
    start = time.perf_counter()
    wait_task(px, node, px.nodes(node).qemu(9000).clone.post(newid=vmid, name=f"direct-{vmid}", full=1))
    vm.config.put(cores=2, memory="2048", ciuser="cloud", sshkeys=quote(ssh_key(), safe=""), ipconfig0="ip=dhcp")
    wait_task(px, node, vm.resize.put(disk="scsi0", size="20G"))
    wait_task(px, node, vm.status.start.post())
    return time.perf_counter() - start


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


async def cloudfaster_create(client: httpx.AsyncClient, key: str, name: str) -> float:
    """POST /vm until the VM is enabled; seconds taken."""
    start = time.perf_counter()
    resp = await client.post("/vm", json=body(name), headers={"X-API-Key": key})
    op = await until_done(client, resp.headers["Location"], key, 0.01)
    if op["state"] != "succeeded":
        raise RuntimeError(op["error"])
    if os.environ.get("BENCH_STEPS"):
        print(
            resp.headers.get("date"),
            [(s["name"], s["started_at"][17:26], (s.get("finished_at") or "")[17:26]) for s in op["steps"]],
            op["created_at"][17:26],
            op["finished_at"][17:26],
        )
    return time.perf_counter() - start


async def new_user(client: httpx.AsyncClient, userid: str) -> str:
    """Register a user and return a key for them."""
    admin = {"X-API-Key": ADMIN_KEY}
    await client.post("/users", json={"userid": userid, "username": userid}, headers=admin)
    key: str = (await client.post("/keys", json={"userid": userid}, headers=admin)).json()["key"]
    return key


async def parallel(client: httpx.AsyncClient, count: int) -> tuple[float, dict[str, int]]:
    """``count`` creates at once (10 per user); wall time until all are enabled, and VMs per node."""
    keys = [await new_user(client, f"par{i}") for i in range(max(1, count // 10))]
    start = time.perf_counter()
    posts = await asyncio.gather(
        *(
            client.post("/vm", json=body(f"p{n}", OSES[n % 5]), headers={"X-API-Key": keys[n % len(keys)]})
            for n in range(count)
        )
    )
    posted = time.perf_counter() - start
    ops = await asyncio.gather(
        *(until_done(client, r.headers["Location"], keys[n % len(keys)], 0.5) for n, r in enumerate(posts))
    )
    print(f"{count} creates accepted (202) in {posted:.2f} s")
    wall = time.perf_counter() - start
    failed = [op["error"] for op in ops if op["state"] != "succeeded"]
    if failed:
        raise RuntimeError(f"{len(failed)} creates failed: {failed[:3]}")
    nodes: dict[str, int] = {}
    for op in ops:
        nodes[op["result"]["node"]] = nodes.get(op["result"]["node"], 0) + 1
    return wall, dict(sorted(nodes.items()))


class Server:
    """CloudFaster under uvicorn on 127.0.0.1, in a thread."""

    def __init__(self, settings: Settings) -> None:
        self.port = free_port()
        config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.02)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


async def bench(url: str, px: Any, runs: int, count: int) -> bool:
    """Run both comparisons and print the figures."""
    direct: list[float] = []
    ours: list[float] = []
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        key = await new_user(client, "bench")
        for i in range(runs):
            direct.append(await asyncio.to_thread(direct_create, px, 500 + i))
            ours.append(await cloudfaster_create(client, key, f"cf-{i}"))
        wall, spread = await parallel(client, count)
    d, c = statistics.median(direct), statistics.median(ours)
    ratio = c / d
    print(f"task durations: {DURATIONS} (s); polling every {POLL_S} s on both sides")
    print(f"direct proxmoxer, clone+config+resize+start: median {d:.3f} s  {[round(x, 3) for x in direct]}")
    print(f"CloudFaster POST /vm → enabled:               median {c:.3f} s  {[round(x, 3) for x in ours]}")
    verdict = "OK" if ratio <= TARGET_RATIO else "MISSED"
    print(f"ratio CloudFaster/direct: {ratio:.3f} (target ≤ {TARGET_RATIO})  {verdict}")
    print(f"{count} parallel creates over 5 nodes: {wall:.2f} s wall; VMs per node {spread}")
    return ratio <= TARGET_RATIO


def main() -> None:
    """Start pvesim and CloudFaster, run, print, stop."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--parallel", type=int, default=100)
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temporary directory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cf-bench-") as tmp_dir:
        tmp = Path(tmp_dir)
        proc, port, ca_file = start_pvesim(tmp)
        try:
            nodes = [{"name": f"sv{i}", "host": "127.0.0.1", "port": port} for i in range(1, 6)]
            big = 10**6
            settings = Settings(
                _env_file=None,
                data_dir=tmp / "data",
                database_url=args.database_url,
                admin_api_key=ADMIN_KEY,
                logging={"console_format": "plain", "level": "WARNING"},
                quotas={"max_vms": big, "max_vcpus": big, "max_memory_mb": big * 10, "max_disk_gb": big},
                proxmox={
                    "nodes": nodes,
                    "token_id": TOKEN_ID,
                    "token_secret": TOKEN_SECRET,
                    "ca_file": str(ca_file),
                    "task_poll_interval_s": POLL_S,
                    "reconcile_interval_s": 3600,
                },
            )
            user, _, token = TOKEN_ID.partition("!")
            px = ProxmoxAPI(
                f"127.0.0.1:{port}", user=user, token_name=token, token_value=TOKEN_SECRET, verify_ssl=str(ca_file)
            )
            with Server(settings) as url:
                ok = asyncio.run(bench(url, px, args.runs, args.parallel))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
