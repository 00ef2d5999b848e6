"""Per-request context carried into every log record."""

from __future__ import annotations

from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
userid_var: ContextVar[str | None] = ContextVar("userid", default=None)
