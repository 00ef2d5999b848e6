"""One reconcile pass over the Docker services: compare each service we expect to run with what Docker holds, and
report (mark ``degraded``/``missing``) or repair (``compose up``) the drift. The feature runs it periodically in
processes that run operations."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any, Literal

from cloudfaster.apps import compose_yaml, store
from cloudfaster.apps.layout import ServiceLayout
from cloudfaster.apps.runtime import AppRuntime, counts_as_up
from cloudfaster.apps.status import DEGRADED, MISSING, RUNNING, WATCHED
from cloudfaster.compose.errors import ComposeError
from cloudfaster.core import operations as ops
from cloudfaster.core.lifecycle import StatusTransitionError
from cloudfaster.db.base import utcnow

log = logging.getLogger("cloudfaster.apps.reconcile")

ReconcileAction = Literal["report", "restart"]


@dataclass
class Drift:
    """What one pass over the services found and did."""

    checked: int = 0
    missing: list[int] = field(default_factory=list)  # no container at all
    degraded: list[int] = field(default_factory=list)  # some container removed, stopped or unhealthy
    repaired: list[int] = field(default_factory=list)
    back: list[int] = field(default_factory=list)  # marked before, fine again
    skipped: str | None = None  # why the pass stopped early (Docker unreachable)

    @property
    def changed(self) -> bool:
        """Whether the pass found or did anything worth a log line."""
        return bool(self.missing or self.degraded or self.repaired or self.back)


def expected_services(layout: ServiceLayout) -> set[str]:
    """The compose services of a service's rendered compose file (empty if the file is gone)."""
    try:
        model = compose_yaml.load(layout.compose_file.read_text())
    except (OSError, ValueError):
        return set()
    services = model.get("services") if isinstance(model, dict) else None
    return set(services) if isinstance(services, dict) else set()


async def _busy(rt: AppRuntime) -> set[str]:
    async with rt.db.read() as session:
        return await ops.busy_targets(session, store.TARGET)


async def _drift(rt: AppRuntime, layout: ServiceLayout) -> dict[str, Any]:
    containers = await rt.compose.ps(store.project_of(layout))
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


async def reconcile(rt: AppRuntime, action: ReconcileAction) -> Drift:
    """One pass: services with an active operation are left alone; ``action`` is ``report`` or ``restart``.
    Docker being unreachable ends the pass early (nothing to conclude this time), logged, not raised."""
    result = Drift()
    try:
        await _pass(rt, action, result)
    except ComposeError as exc:
        log.warning("service reconcile skipped: %s", exc)
        result.skipped = exc.message
    if result.changed:
        log.info("service reconcile: %s", result)
    return result


async def _pass(rt: AppRuntime, action: ReconcileAction, result: Drift) -> None:
    async with rt.db.read() as session:
        ids = await store.watched_ids(session)
    busy = await _busy(rt)
    for service_id in ids:
        if str(service_id) in busy:
            continue
        async with rt.db.read() as session:
            owned = await store.load(session, service_id)
        if owned is None or owned.row.status not in WATCHED:
            continue
        layout = store.layout_of(rt.settings, owned.userid, service_id)
        result.checked += 1
        try:
            await _reconcile_one(rt, action, result, service_id, owned.row.status, owned.row.status_detail, layout)
        except StatusTransitionError:  # an operation started on it meanwhile: it is that operation's now
            continue


async def _reconcile_one(
    rt: AppRuntime,
    action: ReconcileAction,
    result: Drift,
    service_id: int,
    status: str,
    detail: dict[str, Any] | None,
    layout: ServiceLayout,
) -> None:
    drift = await _drift(rt, layout)
    if drift and action == "restart" and str(service_id) not in await _busy(rt):
        log.warning("service %s drifted (%s); bringing it up again", service_id, drift)
        with contextlib.suppress(ComposeError):
            await rt.compose.up(store.project_of(layout))
        repaired = drift
        drift = await _drift(rt, layout)
        if not drift:
            result.repaired.append(service_id)
            repair = {"reconcile": {"repaired": repaired, "at": utcnow().isoformat()}}
            await rt.set_status(service_id, RUNNING, status_detail=repair)
            return
    if drift:
        new = MISSING if drift.get("no_containers") else DEGRADED
        (result.missing if new == MISSING else result.degraded).append(service_id)
        if status != new or (detail or {}).get("reconcile") != drift:
            log.warning("service %s drifted from Docker: %s", service_id, drift)
            await rt.set_status(service_id, new, status_detail={"reconcile": drift})
    elif status != RUNNING:
        result.back.append(service_id)
        await rt.set_status(service_id, RUNNING, status_detail=None)
