"""Docker helpers for the compose client tests and the Docker half's tests (no fixtures here; see conftest.py)."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import urllib.error
import urllib.request
from functools import cache
from pathlib import Path

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
