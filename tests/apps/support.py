"""Helpers for the Docker half's tests: rendered deployments, ZIPs, multipart calls, waiting, serving, and what
Docker still holds."""

from __future__ import annotations

import asyncio
import io
import subprocess
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from cloudfaster.apps.builder import RenderedService
from cloudfaster.apps.filebrowser import FilebrowserCredentials
from cloudfaster.apps.layout import ServiceLayout
from cloudfaster.apps.spec import ServiceSpec
from cloudfaster.compose.client import ComposeClient
from cloudfaster.compose.protocol import ComposeProject
from tests.compose.support import force_remove_project, http_get, project_leftovers
from tests.support.app import Api

__all__ = ["http_get", "project_leftovers"]


def make_zip(files: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A ZIP archive holding ``files``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def create_form(name: str, types: str | list[str], *, zip_bytes: bytes | None = None, **fields: str) -> dict[str, Any]:
    """httpx keyword arguments for a multipart ``POST /service``."""
    data: dict[str, Any] = {"service_name": name, "service_types": types, **fields}
    files = {"zip_file": ("site.zip", zip_bytes, "application/zip")} if zip_bytes is not None else None
    if files is None:
        # Force multipart without a file, as an HTML form with an empty file input does.
        files = {"zip_file": ("", b"", "application/octet-stream")}
    return {"data": data, "files": files}


async def wait_operation(api: Api, headers: dict[str, str], op_id: str, timeout_s: float = 120) -> dict[str, Any]:
    """Poll ``GET /operations/{id}`` until it ends."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        resp = await api.client.get(f"/operations/{op_id}", headers=headers)
        assert resp.status_code == 200, resp.text
        body: dict[str, Any] = resp.json()
        if body["state"] in ("succeeded", "failed", "cancelled"):
            return body
        assert loop.time() < deadline, f"operation {op_id} still {body['state']}"
        await asyncio.sleep(0.2)


def projects_with_prefix(prefix: str) -> list[str]:
    """Compose projects Docker knows (containers, networks or volumes) whose name starts with ``prefix``."""
    label = '{{.Label "com.docker.compose.project"}}'
    found: set[str] = set()
    for argv in (
        ["docker", "ps", "-a", "--format", label],
        ["docker", "network", "ls", "--format", label],
        ["docker", "volume", "ls", "--format", label],
    ):
        out = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False).stdout
        found.update(line.strip() for line in out.splitlines() if line.strip().startswith(prefix))
    return sorted(found)


def remove_projects(prefix: str) -> None:
    """Tear down every compose project named ``prefix...``."""
    for project in projects_with_prefix(prefix):
        force_remove_project(project)


def files_under(root: Path) -> list[str]:
    """Every file and non-empty directory below ``root``, ignoring empty directories."""
    if not root.exists():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if not p.is_dir() or any(p.iterdir()))


def multipart(resp: httpx.Response) -> dict[str, Any]:
    """The JSON body, with the response text in the assertion message when it is not JSON."""
    try:
        body: dict[str, Any] = resp.json()
    except ValueError as exc:
        raise AssertionError(resp.text) from exc
    return body


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
