"""Fixtures: one fresh database per backend (SQLite, MariaDB, PostgreSQL), migrated, and an app per test."""

from tests.support.fixtures import api, database_url, db

__all__ = ["api", "database_url", "db"]
