"""The aiohttp application: PVE's /api2/json envelope, auth, node proxy rules, errors and faults."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from aiohttp import web
from multidict import MultiMapping

from pvesim import admin
from pvesim.auth import Identity, authenticate
from pvesim.errors import PveError
from pvesim.routes import all_routes
from pvesim.routing import Call, Handler, Reply, Upgrade
from pvesim.schema import Endpoint
from pvesim.simulator import Simulator
from pvesim.validation import merge_params, validate_params

log = logging.getLogger("pvesim")

JSON_TYPE = "application/json;charset=UTF-8"
API_PREFIX = "/api2/json"
# Endpoints that need no authentication (pve-manager PVE/HTTPServer.pm auth_handler allow-list).
NO_AUTH = {("POST", "/access/ticket")}
SIM_KEY = web.AppKey("simulator", Simulator)


def _json_response(status: int, reason: str | None, payload: Any) -> web.Response:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return web.Response(status=status, reason=reason, body=body, headers={"Content-Type": JSON_TYPE})


def error_response(error: PveError) -> web.Response:
    """Render a PveError: reason phrase = first line of the message; JSON body unless PVE sends none."""
    if error.empty_body:
        return web.Response(status=error.status, reason=error.reason, headers={"Content-Type": JSON_TYPE})
    message = error.message if error.message.endswith("\n") else error.message + "\n"
    payload: dict[str, Any] = {"data": None, "message": message}
    if error.errors:
        payload["errors"] = error.errors
    return _json_response(error.status, error.reason, payload)


def _multidict_to_params(data: MultiMapping[Any]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for key in data:
        values = data.getall(key)
        params[key] = values[0] if len(values) == 1 else list(values)
    return params


async def _read_body(request: web.Request) -> dict[str, Any]:
    if not request.body_exists:
        return {}
    if request.method in ("GET", "DELETE"):
        raise PveError(501, f"Unexpected content for method '{request.method}'")
    if request.content_type == "application/json":
        try:
            data = await request.json()
        except ValueError:
            raise PveError(400, "unable to parse JSON body") from None
        if not isinstance(data, dict):
            raise PveError(400, "JSON body must be an object")
        return data
    form = await request.post()
    return {k: v for k, v in _multidict_to_params(form).items() if isinstance(v, str | list)}


class Dispatcher:
    """Matches /api2/json requests to handlers and applies PVE's request pipeline."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.routes: list[tuple[Endpoint, Handler]] = []
        for (method, path), handler in all_routes().items():
            self.routes.append((sim.schema.get(method, path), handler))

    def find(self, method: str, path: str) -> tuple[Endpoint, Handler, dict[str, str]] | None:
        """Return the endpoint, handler and URL parameters serving a request."""
        for endpoint, handler in self.routes:
            if endpoint.method != method:
                continue
            match = endpoint.pattern.fullmatch(path)
            if match is not None:
                return endpoint, handler, match.groupdict()
        return None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Serve one API request, turning PveErrors into PVE-shaped responses."""
        try:
            return await self._handle(request)
        except PveError as error:
            if error.status == 401:
                await asyncio.sleep(self.sim.config.auth_failure_delay)
            return error_response(error)
        except Exception as exc:
            log.exception("handler failed")
            return error_response(PveError(500, f"pvesim internal error: {exc}"))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        # Matched on the raw path, then each parameter decoded: a volid such as `local:backup/vzdump-….vma.zst`
        # travels percent-encoded (%2F) in one path segment, as PVE's web UI sends it (encodeURIComponent).
        path = request.raw_path.split("?", 1)[0][len(API_PREFIX) :] or "/"
        if len(path) > 1:
            path = path.rstrip("/")
        found = self.find(request.method, path)
        if found is None:
            raise PveError(501, f"Method '{request.method} {unquote(path)}' not implemented")
        endpoint, handler, raw_params = found
        url_params = {name: unquote(value) for name, value in raw_params.items()}
        body = await _read_body(request)
        identity: Identity | None = None
        if (endpoint.method, endpoint.path) not in NO_AUTH:
            identity = authenticate(
                method=request.method,
                headers=request.headers,
                cookie=request.cookies.get("PVEAuthCookie"),
                tokens=self.sim.config.tokens,
                secret=self.sim.cluster.secret,
            )
        faults = self.sim.faults
        if faults.latency > 0:
            await asyncio.sleep(faults.latency)
        if "node" in url_params:
            self._check_node(url_params["node"])
        if identity is not None and faults.roll_error():
            raise PveError(500, faults.error_message)
        params = validate_params(endpoint, merge_params(url_params, _multidict_to_params(request.query), body))
        result = handler(Call(self.sim, endpoint, params, identity))
        if isinstance(result, Upgrade):
            # pve-http-server AnyEvent.pm: a path ending in `websocket` with an `Upgrade` header is upgraded once
            # the handler has succeeded; without the header it is an ordinary GET.
            if "Upgrade" in request.headers and path.endswith("websocket"):
                return await result.respond(request)
            result = result.data
        payload: dict[str, Any] = {"data": result.data if isinstance(result, Reply) else result}
        if isinstance(result, Reply):
            payload.update(result.extra)
        return _json_response(200, None, payload)

    def _check_node(self, node: str) -> None:
        """Apply PVE's proxy step for /nodes/{node}/…: unknown name → 500, offline node → 595."""
        state = self.sim.cluster.nodes.get(node)
        if state is None:
            # pve-common Network.pm get_ip_from_hostname via Cluster.pm remote_node_ip.
            raise PveError(
                500,
                f"hostname lookup '{node}' failed - failed to get address info for: {node}: Name or service not known",
            )
        if not state.online:
            raise PveError(595, self.sim.faults.unreachable_reason, empty_body=True)


async def _save_periodically(sim: Simulator) -> None:
    while True:
        await asyncio.sleep(1.0)
        try:
            sim.save()
        except OSError:
            log.exception("could not write state file")


def build_app(sim: Simulator) -> web.Application:
    """Create the aiohttp application serving the PVE API and the /pvesim admin endpoints."""
    app = web.Application(client_max_size=4 * 1024 * 1024)
    app[SIM_KEY] = sim
    dispatcher = Dispatcher(sim)
    app.router.add_route("*", API_PREFIX + "/{tail:.*}", dispatcher.handle)
    admin.add_routes(app, sim)

    async def state_saver(app: web.Application) -> Any:
        task = asyncio.create_task(_save_periodically(sim)) if sim.state_file else None
        yield
        if task is not None:
            task.cancel()
        sim.consoles.shutdown()
        sim.tasks.shutdown()
        sim.save()

    app.cleanup_ctx.append(state_saver)
    return app


def served_routes() -> Mapping[tuple[str, str], Handler]:
    """Return every (method, schema path) pvesim serves."""
    return all_routes()
