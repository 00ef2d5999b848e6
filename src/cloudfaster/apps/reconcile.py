"""The reconcile loop of worker processes for Docker services: compare each service we expect to run with what
Docker holds, and report (mark ``degraded``/``missing``) or repair (``compose up``) the drift. VMs have their own
pass and loop in ``cloudfaster.vms.reconcile``, started by the VM feature in the same processes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass, field
from typing import Any

import yaml
from fastapi import FastAPI
from sqlalchemy import select

from cloudfaster.api.state import AppState
from cloudfaster.apps.layout import ServiceLayout
from cloudfaster.apps.runtime import ServiceRuntime, counts_as_up
from cloudfaster.apps.store import layout_of, load, project_of, set_status
from cloudfaster.compose.errors import ComposeDomainError
from cloudfaster.db.base import utcnow
from cloudfaster.db.models import DockerService, Operation

log = logging.getLogger("cloudfaster.apps.reconcile")

# Services that should have running containers: the ones we run, and the ones an earlier pass marked.
WATCHED = ("running", "degraded", "missing")


@dataclass
class ServiceDrift:
    """What one pass over the services found and did."""

    checked: int = 0
    missing: list[int] = field(default_factory=list)  # no container at all
    degraded: list[int] = field(default_factory=list)  # some container removed, stopped or unhealthy
    repaired: list[int] = field(default_factory=list)
    back: list[int] = field(default_factory=list)  # marked before, fine again


def expected_services(layout: ServiceLayout) -> set[str]:
    """The compose services of a service's rendered compose file (empty if the file is gone)."""
    try:
        model = yaml.safe_load(layout.compose_file.read_text())
    except (OSError, yaml.YAMLError):
        return set()
    services = model.get("services") if isinstance(model, dict) else None
    return set(services) if isinstance(services, dict) else set()


async def _busy(rt: ServiceRuntime) -> set[str]:
    async with rt.db.read() as session:
        query = select(Operation.target_id).where(
            Operation.target_type == "service", Operation.active_target.is_not(None)
        )
        return set((await session.execute(query)).scalars())


async def _drift(rt: ServiceRuntime, layout: ServiceLayout) -> dict[str, Any]:
    containers = await rt.compose.ps(project_of(layout))
    present = {c.service for c in containers}
    missing = sorted(expected_services(layout) - present)
    down = sorted(
        f"{c.service}: {c.state}{f' ({c.health})' if c.health else ''}" for c in containers if not counts_as_up(c)
    )
    drift: dict[str, Any] = {}
    if missing:
        drift["removed"] = missing
    if down:
        drift["down"] = down
    if not containers:
        drift["no_containers"] = True
    return drift


async def reconcile_services(rt: ServiceRuntime, action: str) -> ServiceDrift:
    """One pass: services with an active operation are left alone; ``action`` is ``report`` or ``restart``."""
    async with rt.db.read() as session:
        ids = list((await session.execute(select(DockerService.id).where(DockerService.status.in_(WATCHED)))).scalars())
    busy = await _busy(rt)
    result = ServiceDrift()
    for service_id in ids:
        if str(service_id) in busy:
            continue
        async with rt.db.read() as session:
            owned = await load(session, service_id)
        if owned is None or owned.row.status not in WATCHED:
            continue
        layout = layout_of(rt.settings, owned.userid, service_id)
        result.checked += 1
        drift = await _drift(rt, layout)
        if drift and action == "restart" and str(service_id) not in await _busy(rt):
            log.warning("service %s drifted (%s); bringing it up again", service_id, drift)
            with contextlib.suppress(ComposeDomainError):
                await rt.compose.up(project_of(layout))
            repaired = drift
            drift = await _drift(rt, layout)
            if not drift:
                result.repaired.append(service_id)
                detail = {"reconcile": {"repaired": repaired, "at": utcnow().isoformat()}}
                await set_status(rt.db, service_id, "running", status_detail=detail)
                continue
        if drift:
            status = "missing" if drift.get("no_containers") else "degraded"
            (result.missing if status == "missing" else result.degraded).append(service_id)
            if owned.row.status != status or (owned.row.status_detail or {}).get("reconcile") != drift:
                log.warning("service %s drifted from Docker: %s", service_id, drift)
                await set_status(rt.db, service_id, status, status_detail={"reconcile": drift})
        elif owned.row.status != "running":
            result.back.append(service_id)
            await set_status(rt.db, service_id, "running", status_detail=None)
    return result


async def reconcile_forever(rt: ServiceRuntime, interval_s: float, action: str) -> None:
    """Run a pass every ``interval_s`` (with jitter, so several workers do not run in step); errors wait a turn."""
    while True:
        await asyncio.sleep(interval_s * random.uniform(0.8, 1.2))
        try:
            drift = await reconcile_services(rt, action)
        except asyncio.CancelledError:
            raise
        except ComposeDomainError as exc:  # Docker unreachable: nothing to conclude this time
            log.warning("service reconcile skipped: %s", exc)
        except Exception:
            log.warning("service reconcile pass failed", exc_info=True)
        else:
            if drift.missing or drift.degraded or drift.repaired or drift.back:
                log.info("service reconcile: %s", drift)


def install(app: FastAPI, state: AppState) -> None:
    """Start the service reconcile loop in processes that run operations (workers and the embedded default)."""
    if not state.run_worker:
        return
    tasks: list[asyncio.Task[None]] = []
    docker = state.settings.docker

    async def startup() -> None:
        runtime: ServiceRuntime = app.state.docker_services
        tasks.append(
            asyncio.create_task(reconcile_forever(runtime, docker.reconcile_interval_s, docker.reconcile_action))
        )

    async def shutdown() -> None:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    state.on_startup.append(startup)
    state.on_shutdown.append(shutdown)
