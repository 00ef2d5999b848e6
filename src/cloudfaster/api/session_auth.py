"""The dashboard's cookie at the edge: a session cookie is translated to its key's principal, and a write made
with it must carry the session's CSRF token (header ``X-CSRF-Token``), which a cross-site page cannot read."""

from __future__ import annotations

from fastapi import Request

from cloudfaster.api.state import AppState
from cloudfaster.core.errors import ForbiddenError
from cloudfaster.core.principal import Principal
from cloudfaster.core.sessions import csrf_matches

SESSION_COOKIE = "cf_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def session_principal(request: Request, state: AppState, token: str) -> Principal:
    """The principal behind the session cookie ``token``; writes need the CSRF token (403 otherwise)."""
    principal, _ = await state.sessions.principal(token)
    request.scope.setdefault("state", {})["principal"] = principal  # a refused write is audited as denied
    if request.method not in SAFE_METHODS and not csrf_matches(token, request.headers.get(CSRF_HEADER)):
        raise ForbiddenError(
            "this request came with the session cookie but without its CSRF token (X-CSRF-Token)",
            code="csrf_token_invalid",
        )
    return principal
