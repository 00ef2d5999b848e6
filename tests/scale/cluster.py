"""A CloudFaster cluster of real processes: API replicas (`serve --no-worker`) and workers (`worker`) on a shared
database and broker, pointed at a pvesim running in the test process and at the real Docker Engine."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
from pvesim.testing import PveSim

from tests.support.app import ADMIN_KEY, free_port

REPO = Path(__file__).resolve().parents[2]
CLOUDFASTER = REPO / ".venv" / "bin" / "cloudfaster"
PYTHON = REPO / ".venv" / "bin" / "python"
BROKER_URLS = {"rabbitmq": "amqp://guest:guest@127.0.0.1:5672/", "redis": "redis://127.0.0.1:6379/0"}
START_TIMEOUT_S = 60.0


def flatten_env(prefix: str, values: dict[str, Any]) -> dict[str, str]:
    """``{"worker": {"lease_s": 5}}`` -> ``{"CLOUDFASTER_WORKER__LEASE_S": "5"}`` (lists as JSON)."""
    env: dict[str, str] = {}
    for key, value in values.items():
        name = f"{prefix}{key.upper()}"
        if isinstance(value, dict):
            env.update(flatten_env(name + "__", value))
        elif isinstance(value, list):
            env[name] = json.dumps(value)
        elif isinstance(value, bool):
            env[name] = "true" if value else "false"
        else:
            env[name] = str(value)
    return env


def cluster_settings(
    *, database_url: str, broker: str, root: Path, sim: PveSim, namespace: str, port_start: int
) -> dict[str, Any]:
    """The settings every process of one test cluster shares: short leases, quick sweeps, fast polls."""
    return {
        "database_url": database_url,
        "admin_api_key": ADMIN_KEY,
        "data_dir": str(root / "data"),
        "logging": {"console_format": "plain", "level": "INFO"},
        "worker": {
            "broker": broker,
            "broker_url": BROKER_URLS[broker],
            "queue": f"cf-test-{secrets.token_hex(6)}",
            "lease_s": 5,
            "sweep_interval_s": 1,
            "shutdown_grace_s": 5,
            "concurrency": 64,
        },
        "rate_limit": {"per_key": "100000/second"},
        "quotas": {"max_vms": 1000, "max_vcpus": 10000, "max_memory_mb": 10_000_000, "max_disk_gb": 1_000_000},
        "proxmox": {
            "nodes": [{"name": name, "host": sim.host, "port": sim.port} for name in sim.cluster.nodes],
            "token_id": sim.token_id,
            "token_secret": sim.token_secret,
            "ca_file": str(sim.ca_file),
            "task_poll_interval_s": 0.05,
            "retry_backoff_s": 0.05,
            "reconcile_interval_s": 3600,
        },
        "docker": {
            "base_path": str(root / "services"),
            "project_namespace": namespace,
            "healthcheck_interval_s": 0.5,
            "up_timeout_s": 60,
            "port_range_start": port_start,
            "port_range_end": port_start + 99,
        },
    }


@dataclass
class Process:
    """One CloudFaster process of the cluster."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    port: int | None = None

    @property
    def url(self) -> str:
        """Base URL of an API replica."""
        assert self.port is not None, f"{self.name} serves no HTTP"
        return f"http://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.popen.poll() is None

    def log_text(self) -> str:
        """Its whole console output so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of its console output."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class Cluster:
    """Starts, kills and stops the processes of one test cluster; ``stop`` ends everything it started."""

    root: Path
    settings: dict[str, Any]
    processes: list[Process] = field(default_factory=list)
    _logs: list[IO[bytes]] = field(default_factory=list)

    @property
    def apis(self) -> list[Process]:
        """Running API replicas."""
        return [p for p in self.processes if p.port is not None and p.alive]

    @property
    def workers(self) -> list[Process]:
        """Running workers."""
        return [p for p in self.processes if p.port is None and p.alive]

    def environment(self, **overrides: Any) -> dict[str, str]:
        """The process environment: ours without any CLOUDFASTER_ variable, plus the cluster's settings."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDFASTER_")}
        env["CLOUDFASTER_PROXY__SANDBOX"] = "false"  # no local Caddy per process (tests/apps/test_routing.py has one)
        merged = json.loads(json.dumps(self.settings))
        for section, values in overrides.items():
            if isinstance(values, dict):
                merged.setdefault(section, {}).update(values)
            else:
                merged[section] = values
        env.update(flatten_env("CLOUDFASTER_", merged))
        return env

    def _spawn(self, name: str, argv: list[str], port: int | None, **overrides: Any) -> Process:
        log_path = self.root / "logs" / f"{name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        out = log_path.open("ab")
        self._logs.append(out)
        overrides.setdefault("logging", {})["dir"] = str(self.root / "logs" / name)
        popen = subprocess.Popen(
            argv, cwd=self.root, env=self.environment(**overrides), stdout=out, stderr=subprocess.STDOUT
        )
        process = Process(name=name, popen=popen, log_path=log_path, port=port)
        self.processes.append(process)
        return process

    def migrate(self) -> None:
        """Bring the database to the latest migration once, as a deployment does before starting replicas."""
        subprocess.run(
            [str(CLOUDFASTER), "db", "upgrade"], cwd=self.root, env=self.environment(), check=True, timeout=120
        )

    def start_api(self, *, wait: bool = True, **overrides: Any) -> Process:
        """Start an API-only replica on a free port and (unless ``wait`` is false) wait until it answers."""
        port = free_port()
        index = sum(1 for p in self.processes if p.port is not None) + 1
        argv = [str(CLOUDFASTER), "serve", "--no-worker", "--host", "127.0.0.1", "--port", str(port)]
        process = self._spawn(f"api{index}", argv, port, **overrides)
        if wait:
            wait_ready(process)
        return process

    def start_worker(self, *, wait: bool = True, python_flags: tuple[str, ...] = (), **overrides: Any) -> Process:
        """Start a worker and (unless ``wait`` is false) wait until its log says it is ready; ``python_flags``
        (such as ``-X importtime``) run it through the interpreter with those flags."""
        index = sum(1 for p in self.processes if p.port is None) + 1
        argv = [str(CLOUDFASTER), "worker"]
        if python_flags:
            argv = [str(PYTHON), *python_flags, "-m", "cloudfaster.cli", "worker"]
        process = self._spawn(f"worker{index}", argv, None, **overrides)
        if wait:
            wait_ready(process)
        return process

    def kill(self, process: Process) -> None:
        """SIGKILL a process (no clean-up, no hand-back)."""
        process.popen.send_signal(signal.SIGKILL)
        process.popen.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM every process still running, SIGKILL the ones that do not stop in time."""
        for process in self.processes:
            if process.alive:
                process.popen.send_signal(signal.SIGTERM)
        started = time.monotonic()
        deadline = started + 15
        for process in self.processes:
            try:
                process.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                print(f"{process.name} ignored SIGTERM for 15 s; killing it")
                process.popen.kill()
                process.popen.wait(timeout=10)
        print(f"cluster stopped in {time.monotonic() - started:.1f}s")
        for out in self._logs:
            out.close()

    def logs(self) -> str:
        """The tail of every process's output, for failure messages."""
        return "\n".join(f"--- {p.name} (rc={p.popen.poll()}) ---\n{p.log_tail()}" for p in self.processes)


def wait_ready(process: Process) -> None:
    """Wait until a replica answers HTTP or a worker logs that it is ready."""
    if process.port is not None:
        wait_http(process)
    else:
        wait_log(process, " ready (")


def wait_http(process: Process, path: str = "/healthz") -> None:
    """Wait until an API replica answers ``path``; fail with its log when it dies or takes too long."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if not process.alive:
            raise RuntimeError(f"{process.name} exited:\n{process.log_tail()}")
        try:
            if httpx.get(process.url + path, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{process.name} did not answer in {START_TIMEOUT_S:g}s:\n{process.log_tail()}")


def wait_log(process: Process, text: str) -> None:
    """Wait until ``text`` appears in a process's output."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if not process.alive:
            raise RuntimeError(f"{process.name} exited:\n{process.log_tail()}")
        if text in process.log_path.read_text(errors="replace"):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{process.name} not {text} in {START_TIMEOUT_S:g}s:\n{process.log_tail()}")


@contextmanager
def running_cluster(
    root: Path,
    settings: dict[str, Any],
    *,
    apis: int = 2,
    workers: int = 2,
) -> Iterator[Cluster]:
    """Migrate, start ``apis`` replicas and ``workers`` workers; stop all of them afterwards, whatever happened."""
    cluster = Cluster(root=root, settings=settings)
    try:
        cluster.migrate()
        started = [cluster.start_api(wait=False) for _ in range(apis)]
        started += [cluster.start_worker(wait=False) for _ in range(workers)]
        for process in started:
            wait_ready(process)
        yield cluster
    finally:
        cluster.stop()
