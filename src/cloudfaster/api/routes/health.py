"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from cloudfaster.api.deps import StateDep
from cloudfaster.core import operations as ops

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz(state: StateDep) -> dict[str, Any]:
    """The process is alive."""
    return {"status": "ok", "uptime_s": round(time.time() - state.started_at, 1)}


@router.get("/readyz")
async def readyz(state: StateDep) -> JSONResponse:
    """Ready when the database answers; Proxmox and Docker reachability is reported but not required."""
    checks: dict[str, Any] = {}
    ready = True
    try:
        await asyncio.wait_for(state.db.ping(), timeout=5)
        checks["database"] = {"ok": True}
    except Exception as exc:
        ready = False
        checks["database"] = {"ok": False, "error": type(exc).__name__}
    for name, probe in state.probes.items():
        try:
            checks[name] = await asyncio.wait_for(probe(), timeout=5)
        except Exception as exc:
            checks[name] = {"ok": False, "error": type(exc).__name__}
    body = {"status": "ready" if ready else "not_ready", "worker": state.run_worker, "checks": checks}
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get("/metrics", response_class=Response)
async def metrics(state: StateDep) -> Response:
    """Prometheus metrics: requests, latencies, operations by state."""
    try:
        async with state.db.read() as session:
            rows = await ops.count_by_kind_and_state(session)
        state.metrics.set_operations(rows)
    except Exception:  # metrics must answer even while the database is down
        state.metrics.set_operations([])
    body, content_type = state.metrics.render()
    return Response(body, media_type=content_type)
