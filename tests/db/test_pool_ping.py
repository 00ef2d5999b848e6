"""Pooled MariaDB and PostgreSQL connections: pinged only after sitting idle, and a dead one replaced unseen."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import text

from cloudfaster.db.engine import PING_AFTER_IDLE_S, Database

# SQLite has no server that could drop a connection, and its pool is never pinged.
pytestmark = pytest.mark.parametrize("database_url", ["mariadb", "postgres"], indirect=True)


@pytest.fixture
def pings(db: Database, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every ping the pool sends, counted."""
    dialect = db.write_engine.sync_engine.dialect
    sent: list[int] = []
    ping = dialect.do_ping

    def counted(dbapi_connection: Any) -> bool:
        sent.append(1)
        return ping(dbapi_connection)

    monkeypatch.setattr(dialect, "do_ping", counted)
    return sent


async def read_one(db: Database) -> int:
    """A read through the pool."""
    async with db.read() as session:
        return int((await session.execute(text("SELECT 1"))).scalar_one())


async def drop_connections(database_url: str) -> int:
    """Have the server end every other connection to the test's database; how many it ended."""
    admin = Database(database_url)
    try:
        async with admin.write_engine.connect() as conn:
            if admin.url.get_backend_name() == "postgresql":
                query = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                query += " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                return len((await conn.execute(text(query))).all())
            query = "SELECT id FROM information_schema.processlist WHERE db = DATABASE() AND id <> CONNECTION_ID()"
            ids = (await conn.execute(text(query))).scalars()
            killed = 0
            for ident in ids:
                await conn.execute(text(f"KILL {int(ident)}"))
                killed += 1
            return killed
    finally:
        await admin.dispose()


async def test_a_connection_in_steady_use_is_not_pinged_and_an_idle_one_is(db: Database, pings: list[int]) -> None:
    for _ in range(20):
        assert await read_one(db) == 1
    assert pings == []  # pool_pre_ping sent one for every checkout but the first
    await asyncio.sleep(PING_AFTER_IDLE_S + 0.2)
    assert await read_one(db) == 1
    assert len(pings) == 1


async def test_a_connection_the_server_dropped_while_idle_is_replaced_unseen(
    db: Database, database_url: str, pings: list[int]
) -> None:
    assert await read_one(db) == 1
    assert await drop_connections(database_url) >= 1
    await asyncio.sleep(PING_AFTER_IDLE_S + 0.2)
    assert await read_one(db) == 1  # the ping failed, a new connection answered
    assert len(pings) == 1
    async with db.write() as session:  # and writes go through as well
        assert int((await session.execute(text("SELECT 2"))).scalar_one()) == 2
