"""Adds this feature's routes, operation kinds, readiness probes and lifespan hooks to an app."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from fastapi import FastAPI
from sqlalchemy import select

from cloudfaster.api.routes import services as routes
from cloudfaster.api.state import AppState
from cloudfaster.apps.builder import ComposeBuilder
from cloudfaster.apps.intake import discard
from cloudfaster.apps.kinds import all_kinds
from cloudfaster.apps.runtime import ServiceRuntime
from cloudfaster.apps.store import staging_root
from cloudfaster.compose.client import ComposeClient
from cloudfaster.core.operations import ACTIVE_STATES
from cloudfaster.db.models import Operation

STALE_STAGING_S = 3600.0  # a request stages its source for seconds; anything this old and unreferenced is litter


def install(app: FastAPI, state: AppState) -> None:
    """Wire the feature into ``app``."""
    docker = state.settings.docker
    runtime = ServiceRuntime(
        settings=state.settings,
        db=state.db,
        compose=ComposeClient(docker),
        builder=ComposeBuilder(docker),
        runner=state.runner,
    )
    app.state.docker_services = runtime
    for kind in all_kinds(runtime):
        state.runner.kinds[kind.name] = kind
    app.include_router(routes.router)

    async def probe() -> dict[str, Any]:
        return await docker_probe(runtime)

    async def startup() -> None:
        state.settings.services_path.mkdir(parents=True, exist_ok=True)
        await remove_stale_staging(runtime)

    state.probes["docker"] = probe
    state.on_startup.append(startup)


async def docker_probe(runtime: ServiceRuntime) -> dict[str, Any]:
    """Whether `docker compose` reaches the Docker Engine (reported by /readyz, not required for readiness)."""
    docker = runtime.settings.docker
    env = dict(os.environ)
    if docker.docker_host:
        env["DOCKER_HOST"] = docker.docker_host
    try:
        process = await asyncio.create_subprocess_exec(
            *docker.compose_command,
            "ls",
            "--quiet",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
    except OSError as exc:
        return {"ok": False, "error": exc.strerror or type(exc).__name__}
    try:
        _, stderr = await asyncio.wait_for(process.communicate(), 4)
    except TimeoutError:
        process.kill()
        await process.wait()
        return {"ok": False, "error": "timeout"}
    if process.returncode != 0:
        return {"ok": False, "error": stderr.decode(errors="replace").strip()[-200:]}
    return {"ok": True}


async def remove_stale_staging(runtime: ServiceRuntime) -> int:
    """Delete staged uploads and clones that no active operation refers to and that are over an hour old."""
    root = staging_root(runtime.settings)
    if not root.is_dir():
        return 0
    async with runtime.db.read() as session:
        params = (await session.execute(select(Operation.params).where(Operation.state.in_(ACTIVE_STATES)))).scalars()
        referenced = {str(p.get("staged")) for p in params if isinstance(p, dict) and p.get("staged")}
    removed = 0
    now = time.time()
    for path in root.iterdir():
        if str(path) in referenced or now - path.stat().st_mtime < STALE_STAGING_S:
            continue
        discard(path)
        removed += 1
    return removed
