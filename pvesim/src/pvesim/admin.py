"""Admin HTTP endpoints under /pvesim/ for toggling faults and task durations from another process."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from pvesim.simulator import Simulator


def add_routes(app: web.Application, sim: Simulator) -> None:
    """Register GET/POST /pvesim/faults, POST /pvesim/faults/clear, GET/POST /pvesim/task-durations."""

    async def read_json(request: web.Request) -> dict[str, Any]:
        try:
            data = await request.json()
        except ValueError:
            raise web.HTTPBadRequest(text="body must be a JSON object") from None
        if not isinstance(data, dict):
            raise web.HTTPBadRequest(text="body must be a JSON object")
        return data

    async def get_faults(request: web.Request) -> web.Response:
        return web.json_response(sim.faults.snapshot())

    async def set_faults(request: web.Request) -> web.Response:
        try:
            sim.faults.apply(await read_json(request))
        except (ValueError, TypeError) as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
        return web.json_response(sim.faults.snapshot())

    async def clear_faults(request: web.Request) -> web.Response:
        sim.faults.clear()
        return web.json_response(sim.faults.snapshot())

    async def get_durations(request: web.Request) -> web.Response:
        return web.json_response({"default": sim.config.default_task_duration, "durations": sim.config.task_durations})

    async def set_durations(request: web.Request) -> web.Response:
        data = await read_json(request)
        try:
            durations = {str(k): float(v) for k, v in dict(data.get("durations", {})).items()}
            default = float(data["default"]) if "default" in data else None
        except (ValueError, TypeError) as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
        if any(v < 0 for v in durations.values()) or (default is not None and default < 0):
            raise web.HTTPBadRequest(text="durations must not be negative")
        sim.config.task_durations.update(durations)
        if default is not None:
            sim.config.default_task_duration = default
        return await get_durations(request)

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "nodes": list(sim.cluster.nodes)})

    app.router.add_get("/pvesim/health", health)
    app.router.add_get("/pvesim/faults", get_faults)
    app.router.add_post("/pvesim/faults", set_faults)
    app.router.add_post("/pvesim/faults/clear", clear_faults)
    app.router.add_get("/pvesim/task-durations", get_durations)
    app.router.add_post("/pvesim/task-durations", set_durations)
