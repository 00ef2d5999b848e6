"""Fixtures: one fresh database per backend (SQLite, MariaDB, PostgreSQL), migrated with ``db``."""

from tests.support.fixtures import database_url, db

__all__ = ["database_url", "db"]
