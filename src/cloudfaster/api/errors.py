"""One JSON error shape for every failure: ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel, Field
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from cloudfaster.api.error_codes import BY_CODE, ERROR_CODES, ErrorCode, render_markdown
from cloudfaster.core.errors import AppError
from cloudfaster.db.errors import database_unreachable
from cloudfaster.logs.context import request_id_var

__all__ = ["BY_CODE", "ERROR_CODES", "Error", "ErrorBody", "ErrorCode", "error_response", "render_markdown"]

log = logging.getLogger("cloudfaster.api")


class ErrorBody(BaseModel):
    """What went wrong: a stable code (see docs/errors.md), a message for people and optional details."""

    code: str = Field(description="Stable and machine-readable; every code is listed in docs/errors.md")
    message: str
    details: Any = Field(default=None, description="Depends on the code: fields, limits, the operation…")


class Error(BaseModel):
    """The one shape of every error response."""

    error: ErrorBody


HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "rate_limited",
}


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The JSON error response every handler returns."""
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    # The offending input is left out: it may be huge, or a secret.
    return [
        {
            "loc": [str(part) for part in err.get("loc", ())],
            "msg": str(err.get("msg", "")),
            "type": err.get("type"),
        }
        for err in exc.errors()
    ]


def _internal_error(*, with_header: bool = False) -> JSONResponse:
    request_id = request_id_var.get() or "unknown"
    message = f"internal error; quote request id {request_id} to the administrator"
    return error_response(500, "internal_error", message, headers={"X-Request-ID": request_id} if with_header else None)


def allowed_methods(request: Request) -> list[str] | None:
    """The methods of the resource at the request's path (the most literal routes that match it), or None."""
    found: list[tuple[int, set[str]]] = []
    scope = {**request.scope, "path_params": {}}  # Starlette adds a match's parameters to the scope's
    for context in iter_route_contexts(request.app.routes):
        match, child = context.matches(scope)
        if match != Match.NONE:
            found.append((len(child.get("path_params", {})), set(context.methods or ())))
    if not found:
        return None
    fewest = min(count for count, _ in found)
    return sorted(set().union(*(methods for count, methods in found if count == fewest)))


def _not_this_method(request: Request, exc: RequestValidationError) -> list[str] | None:
    # A path such as PATCH /vm/os matches PATCH /vm/{vmid} with a bad vmid, while it names GET /vm/os: that is a
    # method the resource does not take (405), not bad input.
    if not any(err.get("loc", ("",))[0] == "path" for err in exc.errors()):
        return None
    allowed = allowed_methods(request)
    return allowed if allowed and request.method not in allowed else None


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every exception into the one error shape."""

    @app.exception_handler(AppError)
    async def _app_error(_: Request, exc: AppError) -> JSONResponse:
        return error_response(exc.status_code, exc.code, exc.message, exc.details, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        allowed = _not_this_method(request, exc)
        if allowed is not None:
            return error_response(
                405, "method_not_allowed", "Method Not Allowed", headers={"Allow": ", ".join(allowed)}
            )
        return error_response(422, "validation_failed", "request validation failed", _validation_details(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = HTTP_CODES.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:  # Starlette names only the first matching route's methods
            headers["Allow"] = ", ".join(allowed_methods(request) or ())
        return error_response(exc.status_code, code, message, headers=headers)

    @app.exception_handler(DBAPIError)
    async def _database(_: Request, exc: DBAPIError) -> JSONResponse:
        if database_unreachable(exc):
            log.error("database unavailable: %s", type(exc).__name__)
            return error_response(
                503, "database_unavailable", "the database is unavailable", headers={"Retry-After": "2"}
            )
        if isinstance(exc, IntegrityError):  # a race that a service-level check did not catch
            log.warning("integrity error turned into 409: %s", exc.orig)
            if "active_name" in str(exc.orig):
                return error_response(409, "name_taken", "the owner already has a resource of that name")
            return error_response(409, "conflict", "the request conflicts with a concurrent change; try again")
        if isinstance(exc, DataError):
            return error_response(422, "invalid_value", "a value does not fit what the database can store")
        log.exception("database refused a statement", exc_info=exc)
        return _internal_error()

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        # Starlette answers this one from its outermost layer, outside RequestContextMiddleware, which therefore
        # never adds the header: add it here (the context variable is still set, the same task runs both).
        log.exception("unhandled error", exc_info=exc)
        return _internal_error(with_header=True)
