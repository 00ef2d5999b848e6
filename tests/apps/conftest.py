"""Fixtures of the service API tests: an app on a fresh database with its own services directory, Docker project
namespace and port range; every compose project the test made is torn down afterwards, whatever happened."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from tests.apps.support import remove_projects
from tests.support.app import Api, make_settings, running_api
from tests.support.databases import fresh_database


@pytest.fixture(scope="session")
def git_ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[trustme.CA, Path]:
    """A test CA that git trusts (the https git server's certificate is issued by it)."""
    ca = trustme.CA()
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return ca, path


def service_settings(tmp_path: Path, database_url: str, ca_file: Path, **docker: Any) -> Any:
    """Settings for one test: its own namespace, fast healthchecks, 127.0.0.1 git hosts allowed, small limits."""
    namespace = "t" + secrets.token_hex(4) + "-"
    values: dict[str, Any] = {
        "base_path": tmp_path / "services",
        "project_namespace": namespace,
        "healthcheck_interval_s": 0.5,
        "up_timeout_s": 60,
        "git_allow_private_hosts": True,
        "git_timeout_s": 5,
        "git_ca_file": ca_file,
        "max_zip_entries": 1000,
        "max_unpacked_bytes": 50 * 1024 * 1024,
        "max_repo_bytes": 20 * 1024 * 1024,
    }
    values.update(docker)
    return make_settings(tmp_path, database_url, docker=values)


@pytest.fixture
def docker_overrides() -> dict[str, Any]:
    """DockerSettings a test module wants changed (override this fixture)."""
    return {}


async def _api(backend: str, tmp_path: Path, ca_file: Path, overrides: dict[str, Any]) -> AsyncIterator[Api]:
    async with fresh_database(backend, tmp_path) as url:
        settings = service_settings(tmp_path, url, ca_file, **overrides)
        try:
            async with running_api(settings) as api:
                yield api
        finally:
            remove_projects("cf-" + settings.docker.project_namespace)


@pytest.fixture
async def api(tmp_path: Path, git_ca: tuple[trustme.CA, Path], docker_overrides: dict[str, Any]) -> AsyncIterator[Api]:
    """A running CloudFaster app on SQLite."""
    async for api in _api("sqlite", tmp_path, git_ca[1], docker_overrides):
        yield api


@pytest.fixture(params=["sqlite", "mariadb", "postgres"])
async def api_any_db(
    request: pytest.FixtureRequest, tmp_path: Path, git_ca: tuple[trustme.CA, Path]
) -> AsyncIterator[Api]:
    """A running CloudFaster app on each database backend in turn."""
    async for api in _api(request.param, tmp_path, git_ca[1], {}):
        yield api
