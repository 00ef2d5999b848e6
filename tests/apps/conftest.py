"""Fixtures of the Docker half's tests: an app on a fresh database with its own services directory, Docker project
namespace and port range, and rendered services on the real Docker Engine without the API; every compose project a
test made is torn down afterwards, whatever happened."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from cloudfaster.apps.builder import ComposeBuilder, required_port_names
from cloudfaster.apps.config import template_config
from cloudfaster.apps.filebrowser import generate_credentials
from cloudfaster.apps.layout import ServiceLayout
from cloudfaster.apps.spec import DatabaseCredentials, ResourceLimits, ServiceSpec, parse_service_types
from cloudfaster.compose.client import ComposeClient
from cloudfaster.settings import DockerSettings
from tests.apps.support import Deployment, remove_projects
from tests.compose.support import force_remove_project, free_port
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


@pytest.fixture
def docker_settings(tmp_path: Path) -> DockerSettings:
    """Settings for one test: its own base path, fast healthchecks, private git hosts allowed (127.0.0.1)."""
    return DockerSettings(
        base_path=tmp_path / "services",
        healthcheck_interval_s=0.5,
        up_timeout_s=90,
        git_allow_private_hosts=True,
        git_timeout_s=30,
    )


class ServiceFactory:
    """Renders services into the test's base path and remembers their projects for teardown."""

    def __init__(self, settings: DockerSettings) -> None:
        assert settings.base_path is not None
        self.settings = settings
        self.base = settings.base_path
        self.builder = ComposeBuilder(template_config(settings))
        self.projects: list[str] = []

    def __call__(self, types: list[str], *, env: dict[str, str] | None = None) -> Deployment:
        """Render a service of ``types`` with fresh ports and credentials; its directory tree is created."""
        kinds = parse_service_types(types)
        service_id = "t" + secrets.token_hex(5)
        layout = ServiceLayout.for_service(self.base, "tester", service_id)
        self.projects.append(layout.project)
        layout.create(self.settings.files_uid, self.settings.files_gid)
        credentials = generate_credentials()
        spec = ServiceSpec(
            project=layout.project,
            owner="tester",
            service_id=service_id,
            types=kinds,
            ports={name: free_port() for name in required_port_names(kinds)},
            filebrowser_username=credentials.username,
            filebrowser_password_hash=credentials.password_hash(),
            database=DatabaseCredentials.generate(),
            limits=ResourceLimits(cpus=0.5, memory_mb=128, pids=64),
            env=env or {},
            run_as=(self.settings.files_uid, self.settings.files_gid),
        )
        return Deployment(layout, spec, self.builder.render(spec), credentials)


@pytest.fixture
def make_service(docker_settings: DockerSettings) -> Iterator[ServiceFactory]:
    """A ServiceFactory; every project it made is torn down afterwards, whatever the test did."""
    factory = ServiceFactory(docker_settings)
    yield factory
    for project in factory.projects:
        force_remove_project(project)


@pytest.fixture
def compose_client(docker_settings: DockerSettings) -> ComposeClient:
    """A real ComposeClient with the test's settings."""
    return ComposeClient(
        docker_settings.compose_command,
        docker_host=docker_settings.docker_host,
        up_timeout_s=docker_settings.up_timeout_s,
    )
