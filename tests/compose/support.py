"""Helpers for the compose tests (no fixtures here; see conftest.py)."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable
from functools import cache
from pathlib import Path

from cloudfaster.apps.builder import RenderedService
from cloudfaster.apps.filebrowser import FilebrowserCredentials
from cloudfaster.apps.layout import ServiceLayout
from cloudfaster.apps.spec import ServiceSpec
from cloudfaster.compose.client import ComposeClient
from cloudfaster.compose.protocol import ComposeProject

REPO = Path(__file__).resolve().parents[2]
STANDIN_LIST = REPO / "scripts" / "standin-images" / "images.txt"


def standin_tags() -> list[str]:
    """The image tags scripts/standin-images/build.sh builds."""
    tags = []
    for line in STANDIN_LIST.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            tags.append(line.split()[1])
    return tags


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


@cache
def docker_unavailable_reason() -> str | None:
    """Why the docker tests cannot run here, or None."""
    if shutil.which("docker") is None:
        return "docker CLI not found (run scripts/rig.sh as root)"
    if _run("docker", "info").returncode != 0:
        return "Docker Engine not answering `docker info` (run scripts/rig.sh as root)"
    version = _run("docker", "compose", "version", "--short")
    if version.returncode != 0 or not version.stdout.strip().lstrip("v").startswith("2."):
        return "Compose v2 not installed as a docker CLI plugin (run scripts/rig.sh)"
    missing = [tag for tag in standin_tags() if _run("docker", "image", "inspect", tag).returncode != 0]
    if missing:
        return f"stand-in images missing: {', '.join(missing)} (run scripts/rig.sh)"
    return None


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Deployment:
    """A rendered service on disk: layout, spec, rendered files and the compose project."""

    def __init__(
        self,
        layout: ServiceLayout,
        spec: ServiceSpec,
        rendered: RenderedService,
        credentials: FilebrowserCredentials,
    ) -> None:
        self.layout = layout
        self.spec = spec
        self.rendered = rendered
        self.credentials = credentials
        self.project = ComposeProject(layout.project, layout.compose_file)

    def write(self) -> None:
        """Write the rendered files into the service directory."""
        self.layout.write_files(self.rendered.all_files())


def project_leftovers(project: str) -> dict[str, list[str]]:
    """Containers, networks and volumes Docker still has for a compose project."""
    label = f"label=com.docker.compose.project={project}"
    found = {
        "containers": _run("docker", "ps", "-aq", "--filter", label).stdout.split(),
        "networks": _run("docker", "network", "ls", "-q", "--filter", label).stdout.split(),
        "volumes": _run("docker", "volume", "ls", "-q", "--filter", label).stdout.split(),
    }
    return {kind: ids for kind, ids in found.items() if ids}


def force_remove_project(project: str) -> None:
    """Remove whatever a test left of a project, even if compose files are gone."""
    _run("docker", "compose", "-p", project, "down", "--volumes", "--remove-orphans", "--timeout", "1")
    for kind, ids in project_leftovers(project).items():
        if kind == "containers":
            _run("docker", "rm", "-f", *ids)
        elif kind == "networks":
            _run("docker", "network", "rm", *ids)
        else:
            _run("docker", "volume", "rm", "-f", *ids)


async def http_get(url: str, timeout_s: float = 5.0) -> tuple[int, bytes]:
    """GET ``url`` (127.0.0.1 only) and return status and body; connection errors raise ``OSError``."""

    def fetch() -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as response:
                return int(response.status), bytes(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    return await asyncio.to_thread(fetch)


async def deploy(
    factory: Callable[[list[str]], Deployment],
    client: ComposeClient,
    types: list[str],
    populate: Callable[[Path], None] | None = None,
) -> Deployment:
    """Render a service, let ``populate`` fill data/, write the files and `up --wait` it."""
    deployment = factory(types)
    if populate is not None:
        populate(deployment.layout.data_dir)
    deployment.write()
    await client.up(deployment.project)
    return deployment


def listing(path: Path) -> list[str]:
    """Sorted names in a directory (a plain sync helper for async tests)."""
    return sorted(p.name for p in path.iterdir())


async def serves(url: str, expected: bytes, attempts: int = 40) -> bool:
    """Whether ``url`` answers 200 with ``expected`` in its body within ~10 s."""
    for _ in range(attempts):
        try:
            status, body = await http_get(url, timeout_s=2)
            if status == 200 and expected in body:
                return True
        except OSError:
            pass
        await asyncio.sleep(0.25)
    return False


async def refuses(url: str) -> bool:
    """Whether nothing answers at ``url``."""
    try:
        await http_get(url, timeout_s=2)
    except OSError:
        return True
    return False
