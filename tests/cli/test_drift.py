"""The SDK's models and calls against ``GET /openapi.json`` of the running server: a test fails when they drift."""

from __future__ import annotations

import inspect
import re
from typing import Any

from cloudfaster.client import calls, vm_calls
from cloudfaster.client.catalog import SCHEMAS
from tests.cli.server import Server

# Routes the SDK leaves out on purpose: probes, metrics and the admin log stream are for operators' tools; the
# session routes are the dashboard's (a browser's cookie, the SDK sends its key); the SSE stream of an operation is
# for browsers (the SDK long-polls GET /operations/{id}?wait=); push webhook deliveries are for git hosts.
NOT_IN_SDK = {("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics"), ("GET", "/logs/stream")} | {
    ("POST", "/session"),
    ("GET", "/session"),
    ("DELETE", "/session"),
    ("GET", "/operations/{op_id}/events"),
    ("POST", "/hooks/services/{token}"),
}


def test_models_match_the_openapi_components(server: Server) -> None:
    components: dict[str, Any] = server.get("/openapi.json").json()["components"]["schemas"]
    drift = []
    for model, name in SCHEMAS.items():
        schema = components.get(name)
        if schema is None:
            drift.append(f"{model.__name__}: no component {name}")
            continue
        api_fields, api_required = set(schema.get("properties", {})), set(schema.get("required", []))
        ours = {n for n, f in model.model_fields.items()}
        required = {n for n, f in model.model_fields.items() if f.is_required()}
        if ours != api_fields:
            drift.append(f"{model.__name__} vs {name}: +{sorted(ours - api_fields)} -{sorted(api_fields - ours)}")
        if not api_required <= required | (ours - required):
            drift.append(f"{model.__name__}: required {sorted(api_required - ours)}")
        if required - api_required:
            drift.append(f"{model.__name__}: requires {sorted(required - api_required)}, the API may leave them out")
    assert not drift, "\n".join(drift)


def test_every_public_route_has_a_call(server: Server) -> None:
    paths: dict[str, Any] = server.get("/openapi.json").json()["paths"]
    routes = {
        (m.upper(), p) for p, item in paths.items() for m in item if m in ("get", "post", "put", "patch", "delete")
    }
    covered = set()
    source = inspect.getsource(calls) + inspect.getsource(vm_calls)
    for method, path in re.findall(r'Call\(\s*"(\w+)",\s*f?"([^"]+)"', source):
        covered.add((method, re.sub(r"\{[^}]+\}", "{}", path)))
    for action in calls.POWER_ACTIONS:
        covered.add(("POST", f"/vm/{{}}/{action}"))
    for action in calls.SERVICE_ACTIONS:
        covered.add(("POST", f"/service/{{}}/{action}"))
    missing = sorted(
        (m, p) for m, p in routes - NOT_IN_SDK
        if (m, re.sub(r"\{[^}]+\}", "{}", p)) not in covered and not p.endswith("/{action}")
    )  # fmt: skip
    assert not missing, f"routes without an SDK call: {missing}"
