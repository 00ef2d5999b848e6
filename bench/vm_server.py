"""CloudFaster for ``bench/vm_create.py``: its settings, a uvicorn server in its own process, and an optional
profile."""

from __future__ import annotations

import asyncio
import shutil
import signal
import socket
import subprocess
import sys
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
    """CloudFaster under uvicorn on 127.0.0.1 in its own process, as ``cloudfaster serve`` runs it (so the bench's
    client and its direct side never share the server's interpreter lock)."""

    def __init__(self, data_dir: Path, database_url: str, pvesim_port: int, ca_file: Path, poll_s: float) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        args = [str(data_dir), database_url, str(pvesim_port), str(ca_file), str(poll_s), str(self.port)]
        self.args = [sys.executable, "-m", "bench.vm_server", *args]
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        """The server process's id."""
        assert self.proc is not None
        return self.proc.pid

    def __enter__(self) -> str:
        repo = Path(__file__).resolve().parent.parent
        self.proc = subprocess.Popen(self.args, cwd=repo)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"the CloudFaster server exited with {self.proc.returncode}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return f"http://127.0.0.1:{self.port}"
            time.sleep(0.05)
        self.proc.kill()
        raise SystemExit("the CloudFaster server did not start")

    def __exit__(self, *_: object) -> None:
        assert self.proc is not None
        self.proc.terminate()
        self.proc.wait(timeout=30)


def serve(argv: list[str]) -> None:
    """The server process: ``bench_settings`` from the arguments, then uvicorn with the settings of
    ``cloudfaster serve`` (cli._serve)."""
    data_dir, database_url, pvesim_port, ca_file, poll_s, port = argv
    settings = bench_settings(Path(data_dir), database_url, int(pvesim_port), Path(ca_file), float(poll_s))
    app = create_app(settings)
    uvicorn.run(app, host="127.0.0.1", port=int(port), log_level="warning", access_log=False, proxy_headers=True)


@asynccontextmanager
async def profiled(out: Path | None, name: str, pid: int) -> AsyncIterator[None]:
    """Sample process ``pid`` (every thread) with py-spy while inside: ``out/name.txt`` gets the collapsed
    stacks, ``out/name.top.txt`` the CloudFaster functions seen most (nothing when ``out`` is None)."""
    if out is None:
        yield
        return
    raw = out / f"{name}.txt"
    proc = await asyncio.to_thread(_start_spy, raw, pid)
    await asyncio.sleep(1)  # py-spy attaches
    try:
        yield
    finally:
        proc.send_signal(signal.SIGINT)
        await asyncio.to_thread(proc.wait, 60)
        await asyncio.to_thread((out / f"{name}.top.txt").write_text, top_functions(raw))


def _start_spy(raw: Path, pid: int) -> subprocess.Popen[bytes]:
    raw.parent.mkdir(parents=True, exist_ok=True)
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy"
    args = [spy, "record", "--pid", str(pid), "--rate", "100", "--format", "raw", "--output", str(raw)]
    return subprocess.Popen([*args, "--threads", "--gil", "--nonblocking"], stdout=subprocess.DEVNULL)


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


if __name__ == "__main__":
    serve(sys.argv[1:])
