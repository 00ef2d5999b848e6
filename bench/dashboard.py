"""Time to interactive of the dashboard's VM list, measured in Debian's Chromium.

One CloudFaster (SQLite, pointed at pvesim) serves two users side by side: one owning 500 VMs, one owning none
(the baseline: the page's fixed cost, the sign-in check and one empty list call). Each round loads ``#/vms`` for
both in turn, in a fresh page with the session cookie; the figure is ``window.cfListReady``, which the page sets
(performance.now(), from navigation start) once the table is in the DOM and its links can be used.

Usage: .venv/bin/python bench/dashboard.py [--vms 500] [--rounds 7]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from pathlib import Path

import httpx
from playwright.sync_api import Browser, sync_playwright
from sqlalchemy import select

REPO = Path(__file__).resolve().parents[1]
# Drop bench/ (it holds a pvesim.py) and put the repository first, for `pvesim` and the test helpers.
sys.path[:] = [str(REPO)] + [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from pvesim.testing import start_pvesim  # noqa: E402
from tests.support.app import ADMIN_KEY, make_settings, served  # noqa: E402
from tests.vms.conftest import proxmox_settings, sim_config  # noqa: E402

from cloudfaster.api.app import create_app  # noqa: E402
from cloudfaster.db.engine import Database  # noqa: E402
from cloudfaster.db.models import ProxmoxVM, User  # noqa: E402


async def seed(url: str, userid: str, count: int) -> None:
    """``count`` enabled VMs for ``userid``, written as rows (as if created earlier)."""
    db = Database(url)
    try:
        async with db.write() as session:
            user = (await session.execute(select(User).where(User.userid == userid))).scalar_one()
            session.add_all(
                ProxmoxVM(
                    vmid=10_000 + i,
                    user_id=user.id,
                    name=f"vm-{i:04d}",
                    active_name=f"vm-{i:04d}",
                    os="debian-12",
                    cores=1 + i % 4,
                    memory_mb=1024,
                    disk_gb=10,
                    sshkeys="",
                    node=f"sv{1 + i % 5}",
                    status="enabled",
                )
                for i in range(count)
            )
    finally:
        await db.dispose()


def load_once(browser: Browser, base: str, key: str) -> float:
    """Milliseconds from navigation start until the VM list is rendered and interactive."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        assert ctx.request.post(f"{base}/session", data={"api_key": key}).status == 201
        page = ctx.new_page()
        page.goto(f"{base}/ui/#/vms")
        page.wait_for_function("() => window.cfListReady !== undefined", timeout=60_000)
        ready: float = page.evaluate("window.cfListReady")
        page.get_by_role("link", name="Create a VM").focus()  # interactive: the page answers at once
        return ready
    finally:
        ctx.close()


def main() -> None:
    """Run the benchmark and print the raw runs, the medians and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vms", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, start_pvesim(sim_config()) as sim:
        url = f"sqlite+aiosqlite:///{tmp}/cf.db"
        settings = make_settings(Path(tmp), url, proxmox=proxmox_settings(sim))
        app = create_app(settings, configure_logs=False)
        with served(app) as base, httpx.Client(base_url=base, headers={"X-API-Key": ADMIN_KEY}) as admin:
            keys = {}
            for userid in ("many", "none"):
                admin.post("/users", json={"userid": userid, "username": userid})
                keys[userid] = admin.post("/keys", json={"userid": userid}).json()["key"]
            asyncio.run(seed(url, "many", args.vms))
            assert len(admin.get("/vm", params={"userid": "many", "limit": 200}).json()["items"]) == min(args.vms, 200)
            runs: dict[str, list[float]] = {"many": [], "none": []}
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium")
                load_once(browser, base, keys["none"])  # warm-up: module cache, first connections
                for _ in range(args.rounds):
                    for userid in ("many", "none"):
                        runs[userid].append(load_once(browser, base, keys[userid]))
                browser.close()
    many, none = statistics.median(runs["many"]), statistics.median(runs["none"])
    print(f"VM list, time to interactive in Chromium ({args.rounds} rounds, alternating)")
    for label, userid, note in ((f"{args.vms} VMs", "many", ""), ("0 VMs", "none", "  (baseline)")):
        values = runs[userid]
        raw = ", ".join(f"{r:.1f}" for r in values)
        print(f"  {label:8}: median {statistics.median(values):7.1f} ms, best {min(values):6.1f} ms   runs {raw}{note}")
    print(f"  ratio {args.vms}/0: {many / none:.2f}x; cost of the rows: {many - none:.1f} ms")


if __name__ == "__main__":
    main()
