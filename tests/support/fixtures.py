"""Fixtures shared by the suites that run on every database: a fresh database per backend, an app per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cloudfaster.db.engine import Database
from cloudfaster.db.migrate import upgrade_to_head
from tests.support.app import Api, make_settings, running_api
from tests.support.databases import BACKENDS, fresh_database


@pytest.fixture(params=BACKENDS)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database on each backend in turn."""
    async with fresh_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
async def api(database_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    """A running CloudFaster app on a fresh database."""
    async with running_api(make_settings(tmp_path, database_url)) as api:
        yield api


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """The test's database, migrated to the newest schema."""
    database = Database(database_url)
    await upgrade_to_head(database)
    yield database
    await database.dispose()
