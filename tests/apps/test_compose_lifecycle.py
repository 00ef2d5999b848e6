"""Real Docker Engine + Compose v2 with the stand-in images: deploy, serve, stop/start/restart, wiring, teardown."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import zipfile
from pathlib import Path

import pytest
import trustme

from cloudfaster.apps.builder import service_urls
from cloudfaster.apps.config import git_limits
from cloudfaster.apps.filebrowser import verify_password
from cloudfaster.apps.git_intake import clone_git
from cloudfaster.apps.zip_intake import ZipLimits, extract_zip
from cloudfaster.compose.client import ComposeClient
from cloudfaster.settings import DockerSettings
from tests.apps.conftest import ServiceFactory
from tests.apps.gitserver import https_git_server, make_bare_repo
from tests.apps.support import Deployment, http_get, project_leftovers, refuses, serves

pytestmark = pytest.mark.docker


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True, timeout=60).stdout


def compose_exec(d: Deployment, service: str, script: str) -> subprocess.CompletedProcess[str]:
    argv = ["docker", "compose", "-p", d.project.name, "-f", str(d.project.compose_file), "exec", "-T", service]
    return subprocess.run(
        [*argv, "sh", "-c", script], capture_output=True, text=True, errors="replace", timeout=60, check=False
    )


async def up_with_zip(
    make_service: ServiceFactory, client: ComposeClient, types: list[str], files: dict[str, bytes]
) -> Deployment:
    deployment = make_service(types)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    limits = ZipLimits(max_zip_bytes=10**7, max_unpacked_bytes=10**8, max_entries=100, max_ratio=200)
    extract_zip(buffer, deployment.layout.data_dir, limits, owner=deployment.spec.run_as)
    deployment.write()
    await client.up(deployment.project)
    return deployment


async def test_static_site_from_zip_full_lifecycle(
    make_service: ServiceFactory, compose_client: ComposeClient, docker_settings: DockerSettings
) -> None:
    d = await up_with_zip(make_service, compose_client, ["static"], {"index.html": b"<h1>hello from zip</h1>"})
    urls = service_urls(docker_settings.public_base_url, d.spec.ports)

    assert await serves(urls["app"], b"hello from zip")
    assert await serves(urls["files"], b"File Browser")
    states = await compose_client.ps(d.project)
    assert {(c.service, c.state, c.health) for c in states} == {
        ("app", "running", "healthy"),
        ("files", "running", "healthy"),
    }
    published = {p.published_port for c in states for p in c.publishers}
    assert published == set(d.spec.ports.values())

    # Filebrowser's quick setup got the username and a bcrypt hash that matches the password we hand out once.
    db = (d.layout.filebrowser_dir / "database" / "filebrowser.db").read_text()
    assert f"user={d.credentials.username}" in db
    stored_hash = db.split("hash=")[1].strip()
    assert verify_password(d.credentials.password, stored_hash)

    await compose_client.stop(d.project)
    assert await refuses(urls["app"])
    assert {c.state for c in await compose_client.ps(d.project)} == {"exited"}

    await compose_client.start(d.project)
    assert await serves(urls["app"], b"hello from zip")

    await compose_client.restart(d.project)
    assert await serves(urls["app"], b"hello from zip")

    await compose_client.down(d.project)
    assert project_leftovers(d.project.name) == {}
    assert await refuses(urls["app"])
    d.layout.remove()
    assert not d.layout.root.exists()


async def test_hardening_is_applied_by_the_engine(make_service: ServiceFactory, compose_client: ComposeClient) -> None:
    d = await up_with_zip(make_service, compose_client, ["static"], {"index.html": b"x"})
    app = next(c for c in await compose_client.ps(d.project) if c.service == "app")
    host = json.loads(docker("inspect", app.name))[0]["HostConfig"]
    config = json.loads(docker("inspect", app.name))[0]["Config"]

    assert host["CapDrop"] == ["ALL"]
    assert "no-new-privileges:true" in host["SecurityOpt"]
    assert host["ReadonlyRootfs"] is True
    assert host["Memory"] == 128 * 1024 * 1024
    assert host["NanoCpus"] == 500_000_000
    assert host["PidsLimit"] == 64
    assert host["RestartPolicy"]["Name"] == "unless-stopped"
    assert {b["HostIp"] for b in host["PortBindings"]["80/tcp"]} == {"127.0.0.1"}
    assert config["User"] == "1000:1000"
    assert config["Labels"]["cloudfaster.service-id"] == d.spec.service_id
    networks = json.loads(docker("inspect", app.name))[0]["NetworkSettings"]["Networks"]
    assert list(networks) == [f"{d.project.name}_svc"]


async def test_php_reaches_mysql_by_service_name(make_service: ServiceFactory, compose_client: ComposeClient) -> None:
    d = await up_with_zip(make_service, compose_client, ["php", "mysql"], {"index.php": b"<?php echo 1;"})
    assert d.spec.database is not None

    reach = compose_exec(
        d, "app", 'nc -w 3 "$DB_HOST" "$DB_PORT" </dev/null >/dev/null && echo "reached $DB_HOST:$DB_PORT"'
    )
    assert reach.returncode == 0, reach.stderr
    assert "reached mysql:3306" in reach.stdout

    env = compose_exec(d, "app", "env").stdout
    assert f"DB_PASSWORD={d.spec.database.password}" in env
    assert "MYSQL_ROOT_PASSWORD" not in env
    db_env = compose_exec(d, "mysql", "env").stdout
    assert f"MYSQL_PASSWORD={d.spec.database.password}" in db_env
    assert f"MYSQL_ROOT_PASSWORD={d.spec.database.root_password}" in db_env

    # Not reachable from the host: the database publishes no port.
    mysql = next(c for c in await compose_client.ps(d.project) if c.service == "mysql")
    assert mysql.publishers == ()
    assert mysql.health == "healthy"


async def test_node_with_postgres_serves_and_waits_for_the_database(
    make_service: ServiceFactory, compose_client: ComposeClient, docker_settings: DockerSettings
) -> None:
    d = await up_with_zip(
        make_service,
        compose_client,
        ["node", "postgres"],
        {"package.json": b'{"main":"index.js"}', "index.html": b"node ok"},
    )
    assert await serves(service_urls(docker_settings.public_base_url, d.spec.ports)["app"], b"node ok")
    reach = compose_exec(d, "app", 'nc -w 3 "$POSTGRES_HOST" "$POSTGRES_PORT" </dev/null >/dev/null && echo reached')
    assert "reached" in reach.stdout
    states = {c.service: c.health for c in await compose_client.ps(d.project)}
    assert states == {"app": "healthy", "postgres": "healthy", "files": "healthy"}


async def test_react_builds_then_serves_with_spa_fallback(
    make_service: ServiceFactory, compose_client: ComposeClient, docker_settings: DockerSettings
) -> None:
    d = await up_with_zip(
        make_service,
        compose_client,
        ["react"],
        {
            "package.json": b'{"scripts":{"build":"react-scripts build"}}',
            "public/index.html": b"<div id=root>spa</div>",
        },
    )
    app_url = service_urls(docker_settings.public_base_url, d.spec.ports)["app"]
    assert await serves(app_url, b"spa")
    # The busybox stand-in sends the fallback page with status 404 (real nginx try_files answers 200): check the body.
    _status, body = await http_get(app_url + "some/client/route")
    assert b"spa" in body
    assert (d.layout.data_dir / "build" / "index.html").exists()
    build = next(c for c in await compose_client.ps(d.project) if c.service == "build")
    assert (build.state, build.exit_code) == ("exited", 0)


async def test_git_repository_over_https_deploys(
    make_service: ServiceFactory, compose_client: ComposeClient, docker_settings: DockerSettings, tmp_path: Path
) -> None:
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    repos = tmp_path / "repos"
    make_bare_repo(repos, {"index.html": b"<h1>deployed from git</h1>"})
    d = make_service(["static"])
    with https_git_server(repos, ca) as base:
        await clone_git(
            f"{base}/site.git",
            d.layout.data_dir,
            git_limits(docker_settings),
            owner=d.spec.run_as,
            extra_env={"GIT_SSL_CAINFO": str(ca_file)},
        )
    d.write()
    await compose_client.up(d.project)
    assert await serves(service_urls(docker_settings.public_base_url, d.spec.ports)["app"], b"deployed from git")


async def test_logs_tail_and_follow(make_service: ServiceFactory, compose_client: ComposeClient) -> None:
    d = await up_with_zip(make_service, compose_client, ["static"], {"index.html": b"x"})
    lines = [line async for line in compose_client.logs(d.project, tail=20, services=["app"])]
    assert any("nginx stand-in: serving" in line for line in lines)

    follower = compose_client.logs(d.project, follow=True, services=["files"])
    first = await asyncio.wait_for(anext(follower), 20)
    assert "filebrowser" in first
    await follower.aclose()  # type: ignore[attr-defined]  # must not hang: closing kills the `logs --follow` process
