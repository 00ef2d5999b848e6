"""Adds this feature's routes, operation kinds, readiness probes and lifespan hooks to an app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from fastapi import FastAPI

from cloudfaster.api.routes.vms import router
from cloudfaster.api.state import AppState
from cloudfaster.proxmox.client import ProxmoxCluster
from cloudfaster.proxmox.errors import ProxmoxError
from cloudfaster.vms.kinds.create import CreateVm
from cloudfaster.vms.kinds.delete import DeleteVm
from cloudfaster.vms.kinds.power import PowerVm
from cloudfaster.vms.kinds.resize import ResizeVm
from cloudfaster.vms.reconcile import reconcile_forever
from cloudfaster.vms.runtime import VmRuntime
from cloudfaster.vms.sandbox import Sandbox

log = logging.getLogger("cloudfaster.vms")


def install(app: FastAPI, state: AppState) -> None:
    """Wire the feature into ``app``."""
    runtime = VmRuntime(settings=state.settings, db=state.db, proxmox=state.settings.proxmox)
    app.state.vms = runtime
    app.include_router(router)
    for kind in (CreateVm(runtime), ResizeVm(runtime), PowerVm(runtime), DeleteVm(runtime)):
        state.runner.kinds[kind.name] = kind
    sandbox = Sandbox()
    background: list[asyncio.Task[None]] = []

    async def probe() -> dict[str, Any]:
        result: dict[str, Any] = {"sandbox": runtime.sandbox, "nodes": runtime.node_names}
        try:
            version = await runtime.hv().version()
        except (ProxmoxError, Exception) as exc:
            return {**result, "ok": False, "error": getattr(exc, "message", type(exc).__name__)}
        return {**result, "ok": True, "version": version.get("version")}

    async def startup() -> None:
        if state.settings.proxmox.use_sandbox:
            runtime.proxmox = await sandbox.start(state.settings.proxmox)
            runtime.sandbox = True
        if not runtime.proxmox.nodes:
            # Sandbox switched off and no node configured: the rest of CloudFaster runs, VM calls answer 503.
            log.warning("no Proxmox VE node is configured and the sandbox is off: VM requests will answer 503")
            return
        runtime.hypervisor = ProxmoxCluster(runtime.proxmox)
        if state.run_worker:
            background.append(asyncio.create_task(reconcile_forever(runtime)))

    async def shutdown() -> None:
        for task in background:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if runtime.hypervisor is not None:
            await runtime.hypervisor.close()
            runtime.hypervisor = None
        if runtime.sandbox:
            await sandbox.stop()

    state.probes["proxmox"] = probe
    state.on_startup.append(startup)
    state.on_shutdown.append(shutdown)
