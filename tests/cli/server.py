"""A real CloudFaster server for the client's tests: ``cloudfaster serve`` (with its runner) as a subprocess on
SQLite, pointed at a pvesim in the test process and at the real Docker Engine; and ``cf`` as a subprocess."""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from pvesim.testing import PveSim

from tests.scale.cluster import CLOUDFASTER, Cluster, Process, cluster_settings, wait_http
from tests.support.app import ADMIN_KEY, free_port

CF = Path(CLOUDFASTER).with_name("cf")
CF_TIMEOUT_S = 180
SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJ8xq8y8Xn1dO5QkSSbCc7e3fO2hQz1v3m4rU1u8Z1K test@cf"


@dataclass
class Server:
    """A running server and a user of it."""

    url: str
    user_key: str
    process: Process
    home: Path

    def env(self, **extra: str) -> dict[str, str]:
        """The environment ``cf`` runs in: this server, this user's key, a config dir of its own."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CF_", "CLOUDFASTER_"))}
        env.update(CF_URL=self.url, CF_API_KEY=self.user_key, XDG_CONFIG_HOME=str(self.home / "config"))
        env.update(extra)
        return env

    def cf(self, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        """Run ``cf`` with ``args`` (not on a terminal) and return what it did."""
        return subprocess.run(
            [str(CF), *args], env=self.env(**extra), capture_output=True, text=True, timeout=CF_TIMEOUT_S, check=False
        )

    def get(self, path: str) -> httpx.Response:
        """A raw API call as the user."""
        return httpx.get(self.url + path, headers={"X-API-Key": self.user_key}, timeout=30)


@contextmanager
def running_server(root: Path, sim: PveSim, namespace: str) -> Iterator[Server]:
    """Migrate, start one ``cloudfaster serve`` with its runner, register a user; stop it afterwards."""
    settings = cluster_settings(
        database_url=f"sqlite+aiosqlite:///{root / 'cf.db'}", broker="redis", root=root, sim=sim,
        namespace=namespace, port_start=free_port() // 100 * 100 % 20000 + 30000,
    )  # fmt: skip
    settings["worker"] = {"lease_s": 5, "sweep_interval_s": 1, "shutdown_grace_s": 5}
    settings["docker"]["max_zip_bytes"] = 400 * 1024 * 1024
    cluster = Cluster(root=root, settings=settings)
    try:
        cluster.migrate()
        port = free_port()
        argv = [str(CLOUDFASTER), "serve", "--host", "127.0.0.1", "--port", str(port)]
        process = cluster._spawn("api", argv, port)
        wait_http(process)
        url = process.url
        admin = {"X-API-Key": ADMIN_KEY}
        userid = "u" + secrets.token_hex(4)
        httpx.post(url + "/users", json={"userid": userid, "username": "CLI user"}, headers=admin).raise_for_status()
        resp = httpx.post(url + "/keys", json={"userid": userid, "name": "cli"}, headers=admin)
        resp.raise_for_status()
        yield Server(url=url, user_key=resp.json()["key"], process=process, home=root)
    finally:
        cluster.stop()
