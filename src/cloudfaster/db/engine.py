"""Engines and sessions for SQLite, MySQL/MariaDB and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
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


class Database:
    """The engines of one database: ``write`` sessions serialise on SQLite, ``read`` sessions never block."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        if self.is_sqlite and self.url.database and self.url.database != ":memory:":
            Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
        self.write_engine = self._make_engine(immediate=True, echo=echo)
        self.read_engine = self._make_engine(immediate=False, echo=echo) if self.is_sqlite else self.write_engine
        self._write = async_sessionmaker(self.write_engine, expire_on_commit=False)
        self._read = async_sessionmaker(self.read_engine, expire_on_commit=False)

    def _make_engine(self, *, immediate: bool, echo: bool) -> AsyncEngine:
        kwargs: dict[str, Any] = {"echo": echo, "pool_pre_ping": not self.is_sqlite}
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
        if self.is_sqlite:
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
        if self.read_engine is not self.write_engine:
            await self.read_engine.dispose()
