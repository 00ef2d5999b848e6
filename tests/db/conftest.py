"""Fixtures: one fresh database per backend (SQLite, MariaDB, PostgreSQL)."""

from tests.support.fixtures import database_url

__all__ = ["database_url"]
