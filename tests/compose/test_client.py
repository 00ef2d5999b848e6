"""The `docker compose` client on its own: ps parsing, the in-memory fake, typed failures, `config`, `up --wait`
on an unhealthy container, and the readiness ping (the Docker-marked tests need a real Docker Engine)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudfaster.compose.client import ComposeClient, parse_ps_output
from cloudfaster.compose.errors import (
    ComposeCommandError,
    ComposeTimeoutError,
    ComposeUnavailableError,
)
from cloudfaster.compose.fake import FakeComposeRunner
from cloudfaster.compose.protocol import ComposeProject, ComposeRunner
from tests.compose.support import project_leftovers

# Three services with published ports, as a rendered php + mysql service has (the fake reads `ports`).
THREE_SERVICES = """\
services:
  app:
    image: php:8.4-apache
    ports: ["127.0.0.1:21000:80"]
  mysql:
    image: mysql:8.4
  files:
    image: filebrowser/filebrowser:v2.63.23
    ports: ["127.0.0.1:21001:80"]
"""


def test_parse_ps_output_both_formats() -> None:
    line = (
        '{"Name":"p-app-1","Service":"app","State":"running","Health":"healthy","ExitCode":0,'
        '"Publishers":[{"URL":"127.0.0.1","TargetPort":80,"PublishedPort":20001,"Protocol":"tcp"},'
        '{"URL":"","TargetPort":443,"PublishedPort":0,"Protocol":"tcp"}]}'
    )
    [one] = parse_ps_output(line + "\n")
    assert one.is_up
    assert [(p.published_port, p.target_port) for p in one.publishers] == [(20001, 80)]
    assert parse_ps_output("[" + line + "]") == [one]
    assert parse_ps_output("") == []


async def test_fake_runner_follows_the_protocol(tmp_path: Path) -> None:
    compose_file = tmp_path / "docker-compose.yml"
    compose_file.write_text(THREE_SERVICES)
    project = ComposeProject("cf-abc123", compose_file)
    fake: ComposeRunner = FakeComposeRunner()

    await fake.up(project)
    assert {c.service: c.state for c in await fake.ps(project)} == {
        "app": "running",
        "mysql": "running",
        "files": "running",
    }
    await fake.stop(project, ["app"])
    assert {c.service: c.state for c in await fake.ps(project)}["app"] == "exited"
    assert [line async for line in fake.logs(project)] == [f"fake: {project.name} up"]
    await fake.down(project)
    assert await fake.ps(project) == []


async def test_fake_runner_injects_failures(tmp_path: Path) -> None:
    fake = FakeComposeRunner()
    project = ComposeProject("cf-x", tmp_path / "missing.yml")
    fake.fail("up", ComposeCommandError("boom", output="container x is unhealthy", returncode=1))
    with pytest.raises(ComposeCommandError, match="boom"):
        await fake.up(project)
    with pytest.raises(ComposeCommandError, match="cannot read"):
        await fake.up(project)
    assert fake.calls == [("up", "cf-x"), ("up", "cf-x")]


@pytest.mark.docker
async def test_config_reports_a_broken_file(tmp_path: Path, compose_client: ComposeClient) -> None:
    broken = tmp_path / "docker-compose.yml"
    broken.write_text('services:\n  app:\n    image: nginx:1.30-alpine\n    ports: ["notaport"]\n')
    with pytest.raises(ComposeCommandError) as caught:
        await compose_client.config(ComposeProject("cf-broken", broken))
    assert caught.value.returncode not in (0, None)
    assert "notaport" in caught.value.output or "port" in caught.value.output.lower()


@pytest.mark.docker
async def test_unhealthy_up_raises_with_compose_output(tmp_path: Path, compose_client: ComposeClient) -> None:
    compose_file = tmp_path / "docker-compose.yml"
    compose_file.write_text(
        "services:\n"
        "  sick:\n"
        "    image: nginx:1.30-alpine\n"
        "    init: true\n"
        "    labels: {cloudfaster.managed: 'true'}\n"
        "    healthcheck: {test: ['CMD', 'false'], interval: 500ms, retries: 1}\n"
    )
    project = ComposeProject("cf-unhealthy" + tmp_path.name[-6:].lower().replace("_", "-"), compose_file)
    try:
        with pytest.raises(ComposeCommandError) as caught:
            await compose_client.up(project, timeout_s=10)
        assert caught.value.returncode not in (0, None)
        assert "unhealthy" in caught.value.output
    finally:
        await compose_client.down(project)
    assert project_leftovers(project.name) == {}


@pytest.mark.docker
async def test_compose_missing_or_slow_is_typed(tmp_path: Path, compose_client: ComposeClient) -> None:
    compose_file = tmp_path / "docker-compose.yml"
    compose_file.write_text("services:\n  a:\n    image: nginx:1.30-alpine\n")
    project = ComposeProject("cf-typed", compose_file)
    missing = ComposeClient(["/nonexistent/docker", "compose"])
    with pytest.raises(ComposeUnavailableError):
        await missing.config(project)
    with pytest.raises(ComposeTimeoutError):
        await compose_client.run(project, "config", timeout_s=0.001)


@pytest.mark.docker
async def test_ping_reaches_the_engine(compose_client: ComposeClient) -> None:
    await compose_client.ping()
    with pytest.raises(ComposeUnavailableError):
        await ComposeClient(["/nonexistent/docker", "compose"]).ping()
