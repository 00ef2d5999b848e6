"""CloudFaster for ``bench/vm_create.py``: its settings, a uvicorn server in a thread, and an optional profile."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import uvicorn

from bench.vm_direct import TOKEN_ID, TOKEN_SECRET
from cloudfaster.api.app import create_app
from cloudfaster.settings import Settings

ADMIN_KEY = "cf_000000000000_bench-admin-key-with-plenty-of-entropy-0123456789"


def bench_settings(data_dir: Path, database_url: str, port: int, ca_file: Path, poll_s: float) -> Settings:
    """CloudFaster on sv1…sv5 of a pvesim on ``port``, quotas out of the way."""
    big = 10**6
    return Settings(
        _env_file=None,
        data_dir=data_dir,
        database_url=database_url,
        admin_api_key=ADMIN_KEY,
        rate_limit={"enabled": False},  # the bench polls 100 operations with few keys
        logging={"console_format": "plain", "level": "WARNING"},
        quotas={"max_vms": big, "max_vcpus": big, "max_memory_mb": big * 10, "max_disk_gb": big},
        proxmox={
            "nodes": [{"name": f"sv{i}", "host": "127.0.0.1", "port": port} for i in range(1, 6)],
            "token_id": TOKEN_ID,
            "token_secret": TOKEN_SECRET,
            "ca_file": str(ca_file),
            "task_poll_interval_s": poll_s,
            "reconcile_interval_s": 3600,
        },
    )


class Server:
    """CloudFaster under uvicorn on 127.0.0.1, in a thread."""

    def __init__(self, settings: Settings) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
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


@asynccontextmanager
async def profiled(out: Path | None, name: str) -> AsyncIterator[None]:
    """Sample this whole process (every thread) with py-spy while inside: ``out/name.txt`` gets the collapsed
    stacks, ``out/name.top.txt`` the CloudFaster functions seen most (nothing when ``out`` is None)."""
    if out is None:
        yield
        return
    raw = out / f"{name}.txt"
    proc = await asyncio.to_thread(_start_spy, raw)
    await asyncio.sleep(1)  # py-spy attaches
    try:
        yield
    finally:
        proc.send_signal(signal.SIGINT)
        await asyncio.to_thread(proc.wait, 60)
        await asyncio.to_thread((out / f"{name}.top.txt").write_text, top_functions(raw))


def _start_spy(raw: Path) -> subprocess.Popen[bytes]:
    raw.parent.mkdir(parents=True, exist_ok=True)
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy"
    args = [spy, "record", "--pid", str(os.getpid()), "--rate", "100", "--format", "raw", "--output", str(raw)]
    return subprocess.Popen([*args, "--threads", "--nonblocking"], stdout=subprocess.DEVNULL)


def top_functions(raw: Path, limit: int = 40) -> str:
    """The innermost CloudFaster frame of each (non-idle) sample, counted, most first."""
    counts: dict[str, int] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        frames = stack.split(";")
        ours = [f for f in frames if "cloudfaster/" in f and "bench/" not in f]
        key = ours[-1] if ours else f"(outside CloudFaster) {frames[-1] if frames else ''}"
        counts[key] = counts.get(key, 0) + int(n)
        total += int(n)
    rows = sorted(counts.items(), key=lambda kv: -kv[1])[:limit]
    return "\n".join(f"{100 * c / max(total, 1):5.1f}%  {k}" for k, c in rows) + "\n"
