"""The app alone: CPU time per ``GET /users/{userid}`` called as ASGI in one process, CloudFaster vs a bare route.

No server, no socket, no load generator: what a busy machine disturbs least, and where the HTTP layer's own cost
shows (``bench/api_read.py`` measures the whole request). Same configuration as api_read.py. Diagnostic only: it
prints every round and the median ratio of bare / CloudFaster CPU time per request, and has no target.

Usage: python bench/api_read_inprocess.py [--requests 4000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from typing import Any

ADMIN_KEY = "cf_000000000000_bench-admin-key-with-plenty-of-entropy-0123456789"
App = Any


async def call(app: App, path: str, headers: list[tuple[bytes, bytes]]) -> list[dict[str, Any]]:
    """One GET through the ASGI interface; the messages sent back."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "", "headers": headers,
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80),
    }  # fmt: skip
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


async def cpu_us(app: App, headers: list[tuple[bytes, bytes]], requests: int) -> float:
    """CPU microseconds per request, after a warm-up."""
    for _ in range(200):
        await call(app, "/users/bench", headers)
    started = time.process_time()
    for _ in range(requests):
        await call(app, "/users/bench", headers)
    return (time.process_time() - started) / requests * 1e6


async def run(requests: int, rounds: int) -> None:
    """Build both apps, check they answer the same, alternate them."""
    import httpx
    from fastapi import FastAPI

    from cloudfaster.api.app import create_app
    from cloudfaster.cli import load_settings

    app = create_app(load_settings())
    async with app.router.lifespan_context(app):
        admin = {"X-API-Key": ADMIN_KEY}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cf") as client:
            await client.post("/users", json={"userid": "bench", "username": "Bench User"}, headers=admin)
            key = (await client.post("/keys", json={"userid": "bench"}, headers=admin)).json()["key"]
            body = (await client.get("/users/bench", headers={"X-API-Key": key})).json()
        bare = FastAPI()

        @bare.get("/users/{userid}")
        async def read(userid: str) -> dict[str, str]:
            return body  # type: ignore[no-any-return]

        headers = [(b"host", b"127.0.0.1"), (b"user-agent", b"bench"), (b"x-api-key", key.encode())]
        for target in (app, bare):
            assert (await call(target, "/users/bench", headers))[0]["status"] == 200
        bare_runs, cf_runs = [], []
        for _ in range(rounds):
            bare_runs.append(await cpu_us(bare, headers, requests))
            cf_runs.append(await cpu_us(app, headers, requests))
    print(f"{requests} requests a round, {rounds} alternating rounds, CPU time per request (process_time)")
    print(f"{'round':<7}{'bare us':>9}{'CF us':>9}{'bare/CF':>9}")
    for n, (b, c) in enumerate(zip(bare_runs, cf_runs, strict=True), 1):
        print(f"{n:<7}{b:>9.0f}{c:>9.0f}{b / c:>9.2f}")
    ratio = statistics.median(b / c for b, c in zip(bare_runs, cf_runs, strict=True))
    extra = statistics.median(c - b for b, c in zip(bare_runs, cf_runs, strict=True))
    print(f"bare / CloudFaster CPU per request (median of rounds): {ratio:.2f}; CloudFaster's own cost: {extra:.0f} us")


def main() -> None:
    """Parse the arguments and run in a temporary data directory."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for name in [n for n in os.environ if n.startswith("CLOUDFASTER_")]:
            del os.environ[name]
        os.environ.update(
            {
                "CLOUDFASTER_DATA_DIR": os.path.join(tmp, "data"),
                "CLOUDFASTER_ADMIN_API_KEY": ADMIN_KEY,
                "CLOUDFASTER_LOGGING__CONSOLE_FORMAT": "plain",
                "CLOUDFASTER_LOGGING__LEVEL": "WARNING",
                "CLOUDFASTER_RATE_LIMIT__PER_KEY": "10000000/second",
                "CLOUDFASTER_PROXMOX__SANDBOX": "false",
            }
        )
        import uvloop

        uvloop.run(run(args.requests, args.rounds))


if __name__ == "__main__":
    main()
