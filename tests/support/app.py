"""Running a CloudFaster app in tests: in-process through httpx, or as a real uvicorn server in a thread."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from cloudfaster.api.app import create_app
from cloudfaster.settings import Settings

ADMIN_KEY = "cf_000000000000_test-admin-key-with-plenty-of-entropy-0123456789"


def make_settings(tmp_dir: Path, database_url: str, **overrides: Any) -> Settings:
    """Settings for a test instance: its own data dir and database, plain console logs."""
    values: dict[str, Any] = {
        "data_dir": tmp_dir,
        "database_url": database_url,
        "admin_api_key": ADMIN_KEY,
        "logging": {"console_format": "plain", "level": "INFO"},
        "worker": {"lease_s": 3, "sweep_interval_s": 0.5},
        "proxy": {"sandbox": False},  # tests that route through Caddy run their own (tests/proxy)
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@dataclass
class Api:
    """An app and an httpx client bound to it, with helpers for keys."""

    app: FastAPI
    client: httpx.AsyncClient

    def as_key(self, key: str) -> dict[str, str]:
        """Headers that authenticate as ``key``."""
        return {"X-API-Key": key}

    @property
    def admin(self) -> dict[str, str]:
        """Headers that authenticate as the admin."""
        return self.as_key(ADMIN_KEY)

    async def new_user(self, userid: str, username: str = "Test User") -> str:
        """Register a user and return a fresh key for them."""
        resp = await self.client.post("/users", json={"userid": userid, "username": username}, headers=self.admin)
        assert resp.status_code == 201, resp.text
        resp = await self.client.post("/keys", json={"userid": userid, "name": "test"}, headers=self.admin)
        assert resp.status_code == 201, resp.text
        key: str = resp.json()["key"]
        return key


@asynccontextmanager
async def running_api(settings: Settings, **kwargs: Any) -> AsyncIterator[Api]:
    """An app with its lifespan running, reachable through an in-process httpx client."""
    app = create_app(settings, configure_logs=False, **kwargs)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://cf.test") as client:
            yield Api(app=app, client=client)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def served(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` with uvicorn on 127.0.0.1 in a background thread; yields the base URL."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", timeout_graceful_shutdown=5
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        assert not thread.is_alive(), "the test server did not stop"
