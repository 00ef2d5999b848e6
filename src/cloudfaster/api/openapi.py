"""The OpenAPI document: the ``X-API-Key`` scheme, the one error shape and the statuses each route really answers.

Statuses every route of a kind can answer are added here, from what the route takes (a key, an admin key, path
parameters, a body, a cursor, a form); routes declare the rest with ``errors(...)``. FastAPI's default
``{"detail": [...]}`` 422 schema is replaced: the API never answers it.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts

from cloudfaster.api.deps import current_admin, current_principal, form_only
from cloudfaster.api.error_codes import BY_CODE, render_markdown
from cloudfaster.api.errors import Error

PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
SCHEME = {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "Your CloudFaster API key"}
ERROR_REF = {"$ref": "#/components/schemas/Error"}
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# What a call with ``?wait=`` answers when its operation failed: the statuses of the operations' error codes.
OPERATION_FAILED = (409, 422, 502, 503, 504)


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route's own error statuses (the common ones are added by the document itself)."""
    return {status: {"model": Error, "description": _describe(status)} for status in statuses}


def _describe(status: int) -> str:
    codes = sorted(entry.code for entry in BY_CODE.values() if entry.status == status)
    listed = ", ".join(f"`{code}`" for code in codes)
    return f"{HTTPStatus(status).phrase}: {listed} (see docs/errors.md)" if codes else HTTPStatus(status).phrase


def _api_routes(app: FastAPI) -> list[tuple[str, set[str], APIRoute]]:
    """Every API route with its full path and methods, also inside included routers."""
    return [
        (str(context.path_format), set(context.methods or ()), context.original_route)
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute)
    ]


def _calls(route: APIRoute) -> set[Any]:
    found: set[Any] = set()
    pending = list(route.dependant.dependencies)
    while pending:
        dependant = pending.pop()
        found.add(dependant.call)
        pending.extend(dependant.dependencies)
    return found


def _common_statuses(route: APIRoute, method: str) -> set[int]:
    """The error statuses that follow from what a route takes."""
    calls = _calls(route)
    dependant = route.dependant
    statuses: set[int] = set()
    if current_principal in calls:
        statuses |= {401, 429, 503}  # no valid key; the per-key rate limit; the database behind the key lookup
    if current_admin in calls:
        statuses.add(403)
    if dependant.path_params:
        statuses.add(404)
    if dependant.path_params or dependant.query_params or dependant.header_params or dependant.body_params:
        statuses.add(422)
    if method in MUTATING:
        statuses.add(413)  # the body limit holds whether or not the route reads a body
    if dependant.body_params or any(param.alias == "cursor" for param in dependant.query_params):  # unparsable
        statuses.add(400)
    if form_only in calls:
        statuses |= {400, 415, 422}
    return statuses


def _document_errors(schema: dict[str, Any], routes: list[tuple[str, set[str], APIRoute]]) -> None:
    paths = schema.get("paths", {})
    for path, methods, route in routes:
        if path in PUBLIC_PATHS:  # the probes answer their own bodies
            continue
        for method in methods:
            operation = paths.get(path, {}).get(method.lower())
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            for status in _common_statuses(route, method):
                responses.setdefault(str(status), {"description": _describe(status)})
            for status, response in responses.items():
                if status[0] in "45":
                    response["content"] = {"application/json": {"schema": ERROR_REF}}
                    response["description"] = _describe(int(status))
            operation["responses"] = dict(sorted(responses.items()))


def _add_error_schemas(schema: dict[str, Any]) -> None:
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):  # FastAPI's 422 shape, which the API never answers
        schemas.pop(name, None)
    error = Error.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(error.pop("$defs", {}))
    schemas["Error"] = error


def install_api_key_docs(app: FastAPI) -> None:
    """Describe the API key scheme, the error shape and table, and every route's statuses (shown in /docs)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            description = render_markdown().removeprefix("# Errors\n")
            schema = get_openapi(
                title=app.title, version=app.version, summary=app.summary, routes=app.routes,
                description=f"{app.description}\n\n## Errors\n{description}".lstrip(),
            )  # fmt: skip
            schema.setdefault("components", {}).setdefault("securitySchemes", {})["APIKeyHeader"] = SCHEME
            _add_error_schemas(schema)
            _document_errors(schema, _api_routes(app))
            for path, operations in schema.get("paths", {}).items():
                if path in PUBLIC_PATHS:
                    continue
                for operation in operations.values():
                    operation["security"] = [{"APIKeyHeader": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
