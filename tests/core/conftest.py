"""Fixtures: one fresh database per backend (SQLite, MariaDB, PostgreSQL), migrated, and an app per test."""

from collections.abc import AsyncIterator

import pytest

from cloudfaster.db.engine import Database
from cloudfaster.db.migrate import upgrade_to_head
from tests.support.fixtures import api, database_url

__all__ = ["api", "database_url", "db"]


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """The test's database, migrated to the newest schema."""
    database = Database(database_url)
    await upgrade_to_head(database)
    yield database
    await database.dispose()
