"""The migrations build exactly the tables the models describe, on every database, and keep data on the way."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection

from cloudfaster.db.base import Base
from cloudfaster.db.engine import Database
from cloudfaster.db.migrate import alembic_config, script_heads, upgrade_to_head

NAIVE_UTC = datetime(2026, 1, 1)  # raw SQL bypasses UTCDateTime, which stores naive UTC


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": False})
    return list(compare_metadata(context, Base.metadata))


async def test_migrated_schema_matches_the_models(database_url: str) -> None:
    db = Database(database_url)
    try:
        await upgrade_to_head(db)
        async with db.write_engine.connect() as conn:
            differences = await conn.run_sync(_differences)
    finally:
        await db.dispose()
    assert differences == []


async def test_names_become_unique_per_owner_keeping_the_oldest_of_a_duplicate(database_url: str) -> None:
    """0002 backfills ``active_name``: existing duplicates (allowed before) keep working, the oldest keeps its name."""
    db = Database(database_url)

    def to(revision: str) -> Any:
        def run(connection: Connection) -> None:
            command.upgrade(alembic_config(connection), revision)

        return run

    try:
        async with db.write_engine.begin() as conn:
            await conn.run_sync(to("0001"))
            await conn.execute(text("INSERT INTO users (userid, username, created_at) VALUES ('u', 'U', :at)"),
                               {"at": NAIVE_UTC})  # fmt: skip
            for vmid, status in ((100, "enabled"), (101, "enabled"), (102, "deleted")):
                await conn.execute(
                    text(
                        "INSERT INTO proxmox_vms (vmid, user_id, name, os, cores, memory_mb, disk_gb, sshkeys,"
                        " status, created_at, updated_at) VALUES (:vmid, 1, 'web', 'ubuntu', 1, 512, 10, '',"
                        " :status, :at, :at)"
                    ),
                    {"vmid": vmid, "status": status, "at": NAIVE_UTC},
                )
            await conn.run_sync(to("head"))
            rows = (await conn.execute(text("SELECT vmid, active_name FROM proxmox_vms ORDER BY vmid"))).all()
    finally:
        await db.dispose()
    assert [tuple(row) for row in rows] == [(100, "web"), (101, None), (102, None)]


async def test_deleted_services_lose_their_webhook_and_kept_deployments(database_url: str) -> None:
    """0007: a service deleted before a delete cleared them keeps no webhook secret and no deployment marked kept
    (its sources went with its files); a live service keeps both."""
    db = Database(database_url)

    def to(revision: str) -> Any:
        def run(connection: Connection) -> None:
            command.upgrade(alembic_config(connection), revision)

        return run

    try:
        async with db.write_engine.begin() as conn:
            await conn.run_sync(to("0006"))
            for service_id, status in ((1, "deleted"), (2, "running")):
                await conn.execute(
                    text(
                        "INSERT INTO docker_services (id, service_name, service_types, source_type, status,"
                        " webhook_token_hash, webhook_secret, created_at, updated_at)"
                        " VALUES (:id, 'site', '[\"static\"]', 'git', :status, :hash, 'secret', :at, :at)"
                    ),
                    {"id": service_id, "status": status, "hash": f"hash{service_id}", "at": NAIVE_UTC},
                )
                await conn.execute(
                    text(
                        "INSERT INTO service_deployments (service_id, number, operation_id, source_type, state,"
                        " kept, started_at) VALUES (:id, 1, :op, 'git', 'succeeded', :kept, :at)"
                    ),
                    {"id": service_id, "op": f"op-{service_id}", "kept": True, "at": NAIVE_UTC},
                )
            await conn.run_sync(to("head"))
            hooks = (
                await conn.execute(
                    text("SELECT id, webhook_token_hash, webhook_secret FROM docker_services ORDER BY id")
                )
            ).all()
            kept = (
                await conn.execute(text("SELECT service_id, kept FROM service_deployments ORDER BY service_id"))
            ).all()
    finally:
        await db.dispose()
    assert [tuple(row) for row in hooks] == [(1, None, None), (2, "hash2", "secret")]
    assert [(row[0], bool(row[1])) for row in kept] == [(1, False), (2, True)]


def test_heads_read_from_the_files_are_alembics() -> None:
    from alembic.script import ScriptDirectory

    assert script_heads() == set(ScriptDirectory.from_config(alembic_config()).get_heads())


def test_a_database_at_head_is_left_alone_without_loading_alembic(tmp_path: Path) -> None:
    """A restarted server checks the stamped revision itself: Alembic is loaded only when there is work to do."""
    program = (
        "import asyncio, sys\n"
        "from cloudfaster.db.engine import Database\n"
        "from cloudfaster.db.migrate import upgrade_to_head\n"
        "async def main():\n"
        "    db = Database(sys.argv[1])\n"
        "    await upgrade_to_head(db)\n"
        "    await db.dispose()\n"
        "asyncio.run(main())\n"
        "print('alembic' in sys.modules)\n"
    )
    url = f"sqlite+aiosqlite:///{tmp_path / 'cf.db'}"
    first, second = (
        subprocess.run([sys.executable, "-c", program, url], capture_output=True, text=True, check=True).stdout.strip()
        for _ in "12"
    )
    assert (first, second) == ("True", "False")
