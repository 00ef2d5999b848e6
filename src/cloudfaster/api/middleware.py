"""Pure-ASGI middleware: request ids, body size limits, metrics and the audit trail."""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cloudfaster.api.state import AppState
from cloudfaster.core import audit
from cloudfaster.core.errors import PayloadTooLargeError
from cloudfaster.logs.context import request_id_var, userid_var

log = logging.getLogger("cloudfaster.api")

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestIds:
    """Request ids of 32 hex digits, unique without a random draw per request: 64 random bits for the process
    (drawn again in a forked child) followed by a counter."""

    def __init__(self) -> None:
        self._draw()
        os.register_at_fork(after_in_child=self._draw)

    def _draw(self) -> None:
        self._prefix = os.urandom(8).hex()
        self._counter = itertools.count()

    def new(self) -> str:
        """An id no other request of any process has."""
        return f"{self._prefix}{next(self._counter):016x}"


request_ids = RequestIds()


class RequestContextMiddleware:
    """Per request: an id (echoed as ``X-Request-ID``), a body size limit (413), metrics, and the audit trail.

    One pure-ASGI layer on purpose: every layer costs a few microseconds on every request.
    """

    def __init__(self, app: ASGIApp, state: AppState) -> None:
        self.app = app
        self.state = state
        self.audit = audit.AuditTrail(state.db)
        self.max_bytes = state.settings.max_body_bytes
        self.max_json_bytes = state.settings.max_json_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = declared = content_type = None
        streamed = False
        for key, value in scope["headers"]:
            if key == b"x-request-id":
                given = value.decode("latin-1")
            elif key == b"content-length":
                declared = value
            elif key == b"content-type":
                content_type = value
            elif key == b"transfer-encoding":
                streamed = True
        request_id = given if given and SAFE_REQUEST_ID.match(given) else request_ids.new()
        request_id_var.set(request_id)
        userid_var.set(None)
        method = scope["method"]
        limit = self.max_json_bytes if content_type is not None and b"json" in content_type else self.max_bytes
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _refuse(send, limit, request_id)
            return
        if streamed or method in MUTATING:
            receive, send = _limited(receive, send, limit, request_id)
        status = 500
        started = time.perf_counter()
        noted = audit.begin_call() if method in MUTATING else []

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
            self.state.metrics.observe_request(method, template, status, time.perf_counter() - started)
            if method in MUTATING and route is not None:
                await self._audit(
                    scope, route, status, request_id, audit.target_of(noted, scope.get("path_params") or {})
                )

    async def _audit(self, scope: Scope, route: Any, status: int, request_id: str, target: str | None) -> None:
        principal = scope.get("state", {}).get("principal")
        if principal is None:
            log.warning("%s %s -> %s (unauthenticated)", scope["method"], scope["path"], status)
            return
        try:
            await self.audit.record(
                principal=principal,
                method=scope["method"],
                path=scope["path"],
                action=getattr(route, "name", "unknown"),
                target=target,
                status_code=status,
                request_id=request_id,
            )
        except Exception:
            log.exception("could not write the audit event for %s %s", scope["method"], scope["path"])


def _limited(receive: Receive, send: Send, limit: int, request_id: str) -> tuple[Receive, Send]:
    """Wrap receive/send so a streamed body over ``limit`` ends in a 413."""
    seen = 0
    too_large = replaced = False

    async def limited_receive() -> Message:
        nonlocal seen, too_large
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                too_large = True
                raise PayloadTooLargeError(f"request body is over {limit} bytes")
        return message

    async def guarded_send(message: Message) -> None:
        # FastAPI turns any error while reading the body into a 400; answer 413 instead.
        nonlocal replaced
        if too_large:
            if not replaced and message["type"] == "http.response.start":
                replaced = True
                await _refuse(send, limit, request_id)
            return
        await send(message)

    return limited_receive, guarded_send


async def _refuse(send: Send, limit: int, request_id: str) -> None:
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
                (b"x-request-id", request_id.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
