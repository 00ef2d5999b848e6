"""FastAPI dependencies: app state, the calling principal, pagination."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import APIKeyHeader

from cloudfaster.api.state import AppState
from cloudfaster.logs.context import userid_var
from cloudfaster.services.principal import Principal

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="Your CloudFaster API key")


async def get_state(request: Request) -> AppState:
    """The application's wired-up parts."""
    state: AppState = request.app.state.cf
    return state


StateDep = Annotated[AppState, Depends(get_state)]


async def current_principal(request: Request, token: Annotated[str | None, Depends(api_key_header)]) -> Principal:
    """The caller behind ``X-API-Key``; 401 when missing, wrong, revoked or expired."""
    # The state is read from the request, not through StateDep: every dependency level costs a resolution.
    state: AppState = request.app.state.cf
    principal = await state.authenticator.authenticate(token)
    await state.rate_limiter.hit(principal.key_prefix)
    request.scope.setdefault("state", {})["principal"] = principal
    userid_var.set(principal.userid)
    return principal


PrincipalDep = Annotated[Principal, Depends(current_principal)]


async def current_admin(principal: PrincipalDep) -> Principal:
    """The caller, who must hold an admin key (403 otherwise)."""
    principal.require_admin()
    return principal


AdminDep = Annotated[Principal, Depends(current_admin)]
LimitQuery = Annotated[int, Query(ge=1, le=200, description="Page size")]
CursorQuery = Annotated[str | None, Query(max_length=200, description="Cursor from the previous page")]
