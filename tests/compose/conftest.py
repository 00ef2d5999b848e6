"""Fixtures for the compose tests: a real Docker Engine with Compose v2 and the stand-in images (scripts/rig.sh).

Tests marked ``docker`` skip with the reason when any of that is missing, except with ``CI=true``, where they fail.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloudfaster.apps.builder import ComposeBuilder, required_port_names
from cloudfaster.apps.filebrowser import generate_credentials
from cloudfaster.apps.layout import ServiceLayout
from cloudfaster.apps.spec import DatabaseCredentials, ResourceLimits, ServiceSpec, parse_service_types
from cloudfaster.compose.client import ComposeClient
from cloudfaster.settings import DockerSettings
from tests.compose.support import Deployment, force_remove_project, free_port


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
        self.builder = ComposeBuilder(settings)
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
    """A real ComposeClient."""
    return ComposeClient(docker_settings)
