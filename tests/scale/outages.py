"""Stopping and restarting the shared brokers for chaos tests; ``restored`` brings a broker back whatever happened."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

from tests.support.rig import port_open

REDIS_START = [
    "redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", "6379", "--save", "",
    "--appendonly", "no", "--dir", "/var/lib/redis", "--logfile", "/var/log/redis/ci.log",
]  # fmt: skip
PORTS = {"rabbitmq": 5672, "redis": 6379}


def _run(*argv: str, timeout_s: float = 60) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=timeout_s)


def wait_port(port: int, up: bool, timeout_s: float = 60) -> None:
    """Wait until 127.0.0.1:``port`` accepts connections (``up``) or refuses them."""
    deadline = time.monotonic() + timeout_s
    while port_open(port) != up:
        if time.monotonic() > deadline:
            raise RuntimeError(f"port {port} still {'closed' if up else 'open'} after {timeout_s:g}s")
        time.sleep(0.1)


def stop_broker(name: str) -> None:
    """Stop the broker (RabbitMQ: the app inside the node; Redis: the server, no save)."""
    if name == "rabbitmq":
        _run("rabbitmqctl", "stop_app")
    else:
        _run("redis-cli", "-h", "127.0.0.1", "-p", "6379", "shutdown", "nosave")
    wait_port(PORTS[name], up=False)


def start_broker(name: str) -> None:
    """Start the broker again and wait until it accepts connections."""
    if name == "rabbitmq":
        _run("rabbitmqctl", "start_app", timeout_s=120)
        _run("rabbitmqctl", "await_startup", timeout_s=120)
    elif not port_open(PORTS[name]):
        _run(*REDIS_START)
    wait_port(PORTS[name], up=True)


@contextmanager
def restored(name: str) -> Iterator[None]:
    """Make sure the broker runs again when the block ends, even if it failed half-way."""
    try:
        yield
    finally:
        if not port_open(PORTS[name]):
            start_broker(name)
