"""Killing the process during an operation and starting it again finishes the operation exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import update

from cloudfaster.core import operations as op_service
from cloudfaster.db.base import utcnow
from cloudfaster.db.engine import Database
from cloudfaster.db.migrate import upgrade_to_head
from cloudfaster.db.models import Operation
from tests.support.app import ADMIN_KEY, free_port
from tests.support.kinds import StepsParams
from tests.support.operations import wait_for_row

REPO = Path(__file__).resolve().parents[2]


def start_server(database_url: str, data: Path, effects: Path, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.steps_server", database_url, str(data), str(effects), str(port)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


async def test_kill_during_operation_then_restart_finishes_once(database_url: str, tmp_path: Path) -> None:
    db = Database(database_url)
    await upgrade_to_head(db)
    effects = tmp_path / "effects"
    effects.mkdir()
    op = op_service.new_operation(
        kind="test.steps", target_type="thing", target_id="crash", owner_userid="u", params=StepsParams(steps=6),
        idempotency_key=None, body_hash=None,
    )  # fmt: skip
    async with db.write() as session:
        await op_service.flush_operation(session, op)
        await session.execute(
            update(Operation).where(Operation.id == op.id).values(updated_at=utcnow() - timedelta(seconds=10))
        )

    port = free_port()
    first = start_server(database_url, tmp_path / "data", effects, port)
    try:
        await wait_for_row(db, op.id, lambda o: "step-1" in o.checkpoints)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    killed = await wait_for_row(db, op.id, lambda o: True)
    assert killed.state == "running"
    assert killed.attempt == 1
    done_before = len(killed.checkpoints)
    assert 2 <= done_before < 6

    second = start_server(database_url, tmp_path / "data", effects, port)
    try:
        finished = await wait_for_row(db, op.id, lambda o: o.state == "succeeded")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            for _ in range(100):
                try:
                    resp = await client.get(f"/operations/{op.id}", headers={"X-API-Key": ADMIN_KEY})
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            assert resp.status_code == 200
            assert resp.json()["state"] == "succeeded"
    finally:
        second.terminate()
        second.wait(timeout=30)
        await db.dispose()

    assert finished.attempt == 2
    log = (effects / f"{op.id}.log").read_text().split()
    assert log == [f"step-{i}" for i in range(6)], log
    attempts = [s["attempt"] for s in finished.steps if s["state"] == "done"]
    assert attempts.count(1) == done_before
    assert attempts.count(2) == 6 - done_before
