"""A fresh database per test run on SQLite, MariaDB/MySQL and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support.rig import port_open, require

BACKENDS = ("sqlite", "mariadb", "postgres")
MARIADB_ADMIN = "mysql+aiomysql://root@127.0.0.1:3306/"
POSTGRES_ADMIN = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


@asynccontextmanager
async def fresh_database(backend: str, tmp_dir: Path) -> AsyncIterator[str]:
    """Create an empty database on ``backend``, yield its URL, drop it afterwards."""
    name = f"cf_test_{uuid.uuid4().hex[:12]}"
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_dir / (name + '.db')}"
        return
    if backend == "mariadb":
        require(port_open(3306), "MariaDB on 127.0.0.1:3306")
        admin_url, url = MARIADB_ADMIN, f"mysql+aiomysql://root@127.0.0.1:3306/{name}?charset=utf8mb4"
        create, drop = f"CREATE DATABASE {name} CHARACTER SET utf8mb4", f"DROP DATABASE IF EXISTS {name}"
    elif backend == "postgres":
        require(port_open(5432), "PostgreSQL on 127.0.0.1:5432")
        admin_url, url = POSTGRES_ADMIN, f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
        create, drop = f"CREATE DATABASE {name}", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    else:
        raise ValueError(backend)
    admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(create))
        yield url
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(drop))
        await admin.dispose()
