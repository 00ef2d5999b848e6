"""Start-up helpers of the Docker half: the readiness probe and the clean-up of stale staging (moved out of the old wiring)."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from sqlalchemy import select

from cloudfaster.apps.intake import discard
from cloudfaster.apps.runtime import ServiceRuntime
from cloudfaster.apps.store import staging_root
from cloudfaster.core.operations import ACTIVE_STATES
from cloudfaster.db.models import Operation

STALE_STAGING_S = 3600.0  # a request stages its source for seconds; anything this old and unreferenced is litter


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
