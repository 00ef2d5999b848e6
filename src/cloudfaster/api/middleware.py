"""Pure-ASGI middleware: request ids, metrics and the audit trail; request body size limits."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cloudfaster.api.state import AppState
from cloudfaster.errors import PayloadTooLarge
from cloudfaster.logs.context import request_id_var, userid_var
from cloudfaster.services import audit

log = logging.getLogger("cloudfaster.api")

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


class RequestContextMiddleware:
    """Give every request an id (echoed as ``X-Request-ID``), count and time it, and audit mutating calls."""

    def __init__(self, app: ASGIApp, state: AppState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _header(scope, b"x-request-id")
        request_id = given if given and SAFE_REQUEST_ID.match(given) else uuid.uuid4().hex
        request_id_var.set(request_id)
        userid_var.set(None)
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            method = scope["method"]
            metrics = self.state.metrics
            metrics.requests.labels(method, template, str(status)).inc()
            metrics.latency.labels(method, template).observe(time.perf_counter() - started)
            if method in MUTATING and route is not None:
                await self._audit(scope, route, status, request_id)

    async def _audit(self, scope: Scope, route: Any, status: int, request_id: str) -> None:
        principal = scope.get("state", {}).get("principal")
        if principal is None:
            log.warning("%s %s -> %s (unauthenticated)", scope["method"], scope["path"], status)
            return
        params = scope.get("path_params") or {}
        target = ",".join(f"{key}={value}" for key, value in sorted(params.items())) or None
        try:
            await audit.record(
                self.state.db,
                principal=principal,
                method=scope["method"],
                path=scope["path"],
                action=getattr(route, "name", "unknown"),
                target=target[:200] if target else None,
                status_code=status,
                request_id=request_id,
            )
        except Exception:
            log.exception("could not write the audit event for %s %s", scope["method"], scope["path"])


class BodyLimitMiddleware:
    """Refuse bodies over the limit with 413, whether announced by Content-Length or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int, max_json_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_json_bytes = max_json_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        content_type = _header(scope, b"content-type") or ""
        limit = self.max_json_bytes if "json" in content_type.lower() else self.max_bytes
        declared = _header(scope, b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await self._refuse(send, limit)
            return
        seen = 0
        too_large = False

        async def limited_receive() -> Message:
            nonlocal seen, too_large
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    too_large = True
                    raise PayloadTooLarge(f"request body is over {limit} bytes")
            return message

        replaced = False

        async def guarded_send(message: Message) -> None:
            # FastAPI turns any error while reading the body into a 400; answer 413 instead.
            nonlocal replaced
            if too_large:
                if not replaced and message["type"] == "http.response.start":
                    replaced = True
                    await self._refuse(send, limit)
                return
            await send(message)

        await self.app(scope, limited_receive, guarded_send)

    async def _refuse(self, send: Send, limit: int) -> None:
        body = json.dumps(
            {"error": {"code": "payload_too_large", "message": f"request body is over {limit} bytes"}}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
