"""FastAPI dependencies: app state, the calling principal, pagination."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from cloudfaster.api.session_auth import SESSION_COOKIE, session_principal
from cloudfaster.api.state import AppState
from cloudfaster.apps.runtime import AppRuntime
from cloudfaster.core.errors import UnauthorizedError
from cloudfaster.core.principal import Principal
from cloudfaster.logs.context import userid_var
from cloudfaster.vms.runtime import VmRuntime


async def get_state(request: Request) -> AppState:
    """The application's wired-up parts."""
    state: AppState = request.app.state.cf
    return state


StateDep = Annotated[AppState, Depends(get_state)]


async def get_vms(request: Request) -> VmRuntime:
    """The VM half's runtime."""
    state: AppState = request.app.state.cf
    return state.instance.vms.runtime


async def get_apps(request: Request) -> AppRuntime:
    """The Docker half's runtime."""
    state: AppState = request.app.state.cf
    return state.instance.apps.runtime


VmsDep = Annotated[VmRuntime, Depends(get_vms)]
AppsDep = Annotated[AppRuntime, Depends(get_apps)]


async def authenticate_key(request: Request, state: AppState, token: str | None) -> Principal:
    """The caller behind an API key; an address that failed too often gets 429 before any lookup."""
    address = request.client.host if request.client else "unknown"
    if token and not state.authenticator.is_cached(token):
        await state.rate_limiter.refuse_if_failing(address)  # before the lookup: guesses cost no query
    try:
        return await state.authenticator.authenticate(token)
    except UnauthorizedError:
        if token:
            await state.rate_limiter.failed(address)
        raise


async def current_principal(request: Request) -> Principal:
    """The caller behind ``X-API-Key`` or a dashboard session; 401 when missing, wrong, revoked or expired; 429 for
    an address that failed too often (a key already in the cache still passes: the limit is about lookups, not about
    people behind one NAT)."""
    # The header and the state are read from the request instead of through sub-dependencies: each dependency
    # level costs FastAPI a full resolution on every request. The docs get the scheme from api.openapi.
    state: AppState = request.app.state.cf
    token = request.headers.get("x-api-key")
    cookie = request.cookies.get(SESSION_COOKIE) if token is None else None
    if cookie:
        principal = await session_principal(request, state, cookie)
    else:
        principal = await authenticate_key(request, state, token)
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
