"""FastAPI dependencies: app state, the calling principal (checked before the body is read), form fields,
pagination."""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable, Coroutine
from contextvars import ContextVar
from typing import Annotated, Any, get_origin

from fastapi import Depends, Path, Query, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from cloudfaster.api.session_auth import SESSION_COOKIE, session_principal
from cloudfaster.api.state import AppState
from cloudfaster.apps.runtime import AppRuntime
from cloudfaster.core.errors import AppError, UnauthorizedError, ValidationFailedError
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
    try:
        if token:
            cached = state.authenticator.cached(token)
            if cached is not None:
                return cached
            await state.rate_limiter.refuse_if_failing(_address(request))  # before the lookup: no query for guesses
        return await state.authenticator.authenticate(token)
    except UnauthorizedError:
        if token:
            await state.rate_limiter.failed(_address(request))
        raise


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def current_principal(request: Request) -> Principal:
    """The caller behind ``X-API-Key`` or a dashboard session; 401 when missing, wrong, revoked or expired; 429 for
    an address that failed too often (a key already in the cache still passes: the limit is about lookups, not about
    people behind one NAT)."""
    # The header and the state are read from the request instead of through sub-dependencies: each dependency
    # level costs FastAPI a full resolution on every request. The docs get the scheme from api.openapi.
    scope_state = request.scope.setdefault("state", {})
    known: Principal | None = scope_state.get("principal")
    if known is not None:  # AuthFirstRoute authenticated this request already
        return known
    state: AppState = request.app.state.cf
    token = request.headers.get("x-api-key")
    cookie = request.cookies.get(SESSION_COOKIE) if token is None else None
    if cookie:
        principal = await session_principal(request, state, cookie)
    else:
        principal = await authenticate_key(request, state, token)
    await state.rate_limiter.hit(principal.key_prefix)
    scope_state["principal"] = principal
    userid_var.set(principal.userid)
    return principal


PrincipalDep = Annotated[Principal, Depends(current_principal)]


async def current_admin(principal: PrincipalDep) -> Principal:
    """The caller, who must hold an admin key (403 otherwise)."""
    principal.require_admin()
    return principal


AdminDep = Annotated[Principal, Depends(current_admin)]
LimitQuery = Annotated[int, Query(ge=1, le=200, description="Page size")]
# Row ids are 32-bit INTEGER columns on MariaDB and PostgreSQL: a larger id cannot exist (and must not reach SQL).
ServiceIdPath = Annotated[int, Path(ge=1, le=2_147_483_647, description="The service's id")]
CursorQuery = Annotated[str | None, Query(max_length=200, description="Cursor from the previous page")]


def _needs_key(dependant: Dependant) -> bool:
    return any(d.call is current_principal or _needs_key(d) for d in dependant.dependencies)


# The caller of the request being handled, for endpoints whose ``PrincipalDep`` AuthFirstRoute fills in itself.
_authenticated: ContextVar[Principal] = ContextVar("authenticated_principal")


def _principal_given(dependant: Dependant) -> Dependant:
    """``dependant`` with its own ``PrincipalDep`` parameters passed in from ``_authenticated`` instead of resolved
    by FastAPI: each dependency level costs a full resolution (a tenth of a cached read's time), and AuthFirstRoute
    has the principal already. The documented dependant (OpenAPI, error statuses) stays the full one."""
    endpoint = dependant.call
    names = [d.name for d in dependant.dependencies if d.call is current_principal and d.name]
    if not names or endpoint is None or not inspect.iscoroutinefunction(endpoint):
        return dependant

    @functools.wraps(endpoint)
    async def call(**values: Any) -> Any:
        principal = _authenticated.get()
        return await endpoint(**values, **dict.fromkeys(names, principal))

    rest = [d for d in dependant.dependencies if d.call is not current_principal]
    return dataclasses.replace(dependant, dependencies=rest, call=call)


class AuthFirstRoute(APIRoute):
    """A route that checks the API key before it reads the body: a call without a valid key is a 401, never a
    422 or a 415 about a body nobody may send."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The route's handler, preceded by authentication when the route takes a key."""
        if not _needs_key(self.dependant):
            return super().get_route_handler()
        documented = self.dependant
        self.dependant = _principal_given(documented)
        try:
            handler = super().get_route_handler()
        finally:
            self.dependant = documented

        async def authenticated(request: Request) -> Response:
            token = _authenticated.set(await current_principal(request))
            try:
                return await handler(request)
            finally:
                _authenticated.reset(token)

        return authenticated


class UnsupportedMediaTypeError(AppError):
    """The body is not of a content type the route takes."""

    status_code = 415
    code = "unsupported_media_type"


FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


async def form_only(request: Request) -> None:
    """Refuse what a form route would otherwise guess at: a body that is not a form (415), a field the route does
    not take, or one sent twice that takes one value (422)."""
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type and content_type not in FORM_TYPES:
        raise UnsupportedMediaTypeError(
            f"this route takes multipart/form-data, not {content_type[:100]}: use multipart/form-data "
            "(curl -F field=value -F zip_file=@site.zip)",
            details={"expected": "multipart/form-data"},
        )
    route: APIRoute = request.scope["route"]
    fields = {p.alias: get_origin(p.field_info.annotation) is list for p in route.dependant.body_params}
    seen: set[str] = set()
    for name, _ in (await request.form()).multi_items():
        if name not in fields:
            raise ValidationFailedError(
                f"unknown form field {name[:64]!r}", code="unknown_field", details={"allowed": sorted(fields)}
            )
        if name in seen and not fields[name]:
            raise ValidationFailedError(f"form field {name!r} was sent more than once", code="duplicate_field")
        seen.add(name)


FormOnly = Depends(form_only)
