"""Engines and sessions for SQLite, MySQL/MariaDB and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, exc, text
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry


def _sqlite_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
    # Let SQLAlchemy's "begin" event choose the BEGIN statement instead of the driver.
    dbapi_connection.isolation_level = None


# A pooled MariaDB or PostgreSQL connection used within this many seconds is taken as alive; one idle longer is
# pinged when checked out, and a dead one replaced (with every other pooled connection: a database that dropped one
# has usually restarted). SQLAlchemy's pool_pre_ping pings at every checkout, which on asyncpg is three round trips
# (BEGIN, ";", ROLLBACK: sqlalchemy/dialects/postgresql/asyncpg.py ``_async_ping``), in a burst about a third of
# all the statements sent.
PING_AFTER_IDLE_S = 1.0


def _ping_when_idle(engine: AsyncEngine) -> None:
    dialect: Dialect = engine.sync_engine.dialect

    def checked_in(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info["idle_since"] = time.monotonic()

    def checked_out(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        since = record.info.get("idle_since")  # none yet: a connection just made
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_S:
            return
        try:
            alive = dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise exc.InvalidatePoolError(f"pooled connection is gone: {error}") from error
        if not alive:
            raise exc.InvalidatePoolError("pooled connection is gone")

    event.listen(engine.sync_engine.pool, "checkin", checked_in)
    event.listen(engine.sync_engine.pool, "checkout", checked_out)


class Database:
    """The engines of one database: ``write`` sessions serialise on SQLite, ``read`` sessions never block."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        if self.is_sqlite and self.url.database and self.url.database != ":memory:":
            Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
        self.write_engine = self._make_engine(immediate=True, echo=echo)
        self.read_engine = self.write_engine
        if self.is_sqlite:
            self.read_engine = self._make_engine(immediate=False, echo=echo)
        elif self.url.get_backend_name() == "postgresql":
            # Reads without BEGIN and ROLLBACK (two round trips each), on the same pool: under READ COMMITTED every
            # statement sees what was committed before it either way, as SQLite's readers do. (On aiomysql the
            # switch itself costs a round trip at checkout and one at checkin.)
            self.read_engine = self.write_engine.execution_options(isolation_level="AUTOCOMMIT")
        self._write = async_sessionmaker(self.write_engine, expire_on_commit=False)
        self._read = async_sessionmaker(self.read_engine, expire_on_commit=False)

    def _make_engine(self, *, immediate: bool, echo: bool) -> AsyncEngine:
        kwargs: dict[str, Any] = {"echo": echo}
        if self.is_sqlite:
            # Opening a SQLite connection (its own aiosqlite thread, the PRAGMAs) is slow: keep them all open.
            # Each aiosqlite connection is a thread: few of them, kept open (opening one runs the PRAGMAs).
            kwargs.update(pool_size=4, max_overflow=0, pool_timeout=60)
            if not immediate:
                # WAL readers see a consistent snapshot per statement; in autocommit mode there is no BEGIN and
                # no ROLLBACK, which saves two thread round-trips per read.
                kwargs.update(isolation_level="AUTOCOMMIT", skip_autocommit_rollback=True)
        else:
            kwargs.update(pool_size=20, max_overflow=20, pool_recycle=1800)
        engine = create_async_engine(self.url, **kwargs)
        if not self.is_sqlite:
            _ping_when_idle(engine)
        else:
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
            if immediate:
                # A deferred transaction that later writes fails at once with SQLITE_BUSY when another writer
                # committed in between (WAL snapshot rule, sqlite.org/isolation.html); BEGIN IMMEDIATE waits instead.
                event.listen(engine.sync_engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
        return engine

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A session in a write transaction, committed on success and rolled back on error."""
        async with self._write() as session, session.begin():
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for reads only."""
        async with self._read() as session:
            yield session

    async def ping(self) -> None:
        """Raise if the database cannot be reached."""
        async with self.read_engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        """Close all pooled connections."""
        await self.write_engine.dispose()
        if self.is_sqlite:  # elsewhere the read engine shares the write engine's pool
            await self.read_engine.dispose()
