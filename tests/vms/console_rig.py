"""A real CloudFaster server (uvicorn on 127.0.0.1) pointed at pvesim, for the console tests and the benchmark."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from pvesim.testing import PveSim

from cloudfaster.api.app import create_app
from tests.support.app import Api, make_settings, served
from tests.vms.conftest import proxmox_settings
from tests.vms.helpers import create_vm


@dataclass
class ConsoleRig:
    """CloudFaster served over HTTP on 127.0.0.1, its API client, and the simulator behind it."""

    base_url: str
    api: Api
    sim: PveSim

    async def vm(self, headers: dict[str, str], name: str, **overrides: Any) -> int:
        """Create a VM through the API and wait until it is enabled; its VMID."""
        vm = await create_vm(self.api, headers, name=name, cores=1, memory=512, disk=10, **overrides)
        assert vm["status"] == "enabled", vm
        vmid: int = vm["vmid"]
        return vmid

    async def console(self, headers: dict[str, str], vmid: int, kind: str = "vnc") -> httpx.Response:
        """POST /vm/{vmid}/console."""
        return await self.api.client.post(f"/vm/{vmid}/console", json={"type": kind}, headers=headers)

    async def link(self, headers: dict[str, str], vmid: int, kind: str = "vnc") -> dict[str, Any]:
        """A console link (the request must succeed)."""
        resp = await self.console(headers, vmid, kind)
        assert resp.status_code == 200, resp.text
        link: dict[str, Any] = resp.json()
        return link


@asynccontextmanager
async def console_rig(
    sim: PveSim, tmp_path: Path, database_url: str, pve_host: str = "localhost"
) -> AsyncIterator[ConsoleRig]:
    """Serve CloudFaster for ``sim``; the PVE nodes are reached as ``pve_host`` (a name the leak tests look for)."""
    proxmox = proxmox_settings(sim)
    for node in proxmox["nodes"]:
        node["host"] = pve_host
    app = create_app(make_settings(tmp_path, database_url, proxmox=proxmox), configure_logs=False)
    with served(app) as base_url:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            yield ConsoleRig(base_url, Api(app=app, client=client), sim)


@asynccontextmanager
async def console_socket(link: dict[str, Any]) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    """The console websocket of a link, with its token offered as the subprotocol."""
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(link["websocket_url"], protocols=("binary", link["websocket_protocol"])) as ws,
    ):
        yield ws
