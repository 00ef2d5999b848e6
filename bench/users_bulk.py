"""A class list registered with one ``POST /users/bulk`` (keys included) vs the same users registered one by one
(``POST /users`` then ``POST /keys`` each, what a script would do without it), side by side.

Each round starts CloudFaster on a fresh SQLite database (embedded defaults, the Proxmox sandbox off) and drives it
in-process through httpx's ASGI transport, so the figures are the server's work, not a network's. The two sides
alternate; the medians and the median of the per-round ratios are printed.

Usage: python bench/users_bulk.py [--users 200] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from cloudfaster.api.app import create_app
from cloudfaster.settings import Settings

ADMIN = {"X-API-Key": "cf_000000000000_bench-admin-key-with-plenty-of-entropy-0123456789"}


def roster(n: int) -> list[dict[str, str]]:
    """``n`` students."""
    return [{"userid": f"s{i:04d}", "username": f"Student {i}"} for i in range(n)]


async def bulk(client: httpx.AsyncClient, users: list[dict[str, str]]) -> None:
    """One request for the whole list."""
    resp = await client.post("/users/bulk", json={"users": users, "keys": True}, headers=ADMIN)
    if resp.status_code != 200 or resp.json()["created"] != len(users):
        raise RuntimeError(resp.text[:300])


async def one_by_one(client: httpx.AsyncClient, users: list[dict[str, str]]) -> None:
    """Two requests per user."""
    for user in users:
        made = await client.post("/users", json=user, headers=ADMIN)
        key = await client.post("/keys", json={"userid": user["userid"], "name": "bulk"}, headers=ADMIN)
        if made.status_code != 201 or key.status_code != 201:
            raise RuntimeError(made.text[:200] + key.text[:200])


async def timed(side: Callable[[httpx.AsyncClient, list[dict[str, str]]], Awaitable[None]], n: int) -> float:
    """Seconds ``side`` takes to register ``n`` users on a fresh instance."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            _env_file=None,
            data_dir=Path(tmp),
            admin_api_key=ADMIN["X-API-Key"],
            proxmox={"sandbox": False},
            proxy={"sandbox": False},
            logging={"console_format": "plain", "level": "WARNING"},
            rate_limit={"enabled": False},
        )
        app = create_app(settings, configure_logs=False)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                started = time.perf_counter()
                await side(client, roster(n))
                return time.perf_counter() - started


async def main() -> None:
    """Alternate the two sides and print medians and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    bulk_s, single_s = [], []
    for _ in range(args.rounds):
        bulk_s.append(await timed(bulk, args.users))
        single_s.append(await timed(one_by_one, args.users))
    ratios = [s / b for b, s in zip(bulk_s, single_s, strict=True)]
    n = args.users
    print(f"{n} users with a key each, {args.rounds} alternating rounds, SQLite, in-process")
    for label, runs in (("POST /users/bulk", bulk_s), ("POST /users + /keys each", single_s)):
        median = statistics.median(runs)
        print(f"{label:<26} median {median:.3f} s ({n / median:.0f} users/s)")
    print(f"one by one / bulk          median ratio {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    asyncio.run(main())
