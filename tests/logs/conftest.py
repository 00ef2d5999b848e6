"""Fixtures: one fresh database per backend (SQLite, MariaDB, PostgreSQL) and an app per test."""

from tests.support.fixtures import api, database_url

__all__ = ["api", "database_url"]
