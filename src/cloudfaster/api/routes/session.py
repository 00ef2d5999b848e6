"""Dashboard sessions: sign in with an API key (exchanged for an HttpOnly cookie), read the session, sign out.

The key is sent once, in the body, and never stored: the session row keeps only the key's id, and the browser
only the cookie. Writes with the cookie need the CSRF token answered here (``X-CSRF-Token``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel, ConfigDict, StringConstraints

from cloudfaster.api.deps import StateDep, authenticate_key
from cloudfaster.api.openapi import errors
from cloudfaster.api.session_auth import CSRF_HEADER, SESSION_COOKIE, session_principal
from cloudfaster.core.errors import UnauthorizedError
from cloudfaster.core.principal import Principal
from cloudfaster.core.sessions import csrf_token_for

router = APIRouter(prefix="/session", tags=["session"])


class SignIn(BaseModel):
    """Sign in with an API key."""

    model_config = ConfigDict(extra="forbid")

    api_key: Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]


class SessionRead(BaseModel):
    """Who is signed in, until when, and the CSRF token to send as ``X-CSRF-Token`` on writes."""

    userid: str | None
    admin: bool
    key_prefix: str
    expires_at: datetime
    csrf_token: str
    csrf_header: str = CSRF_HEADER


def _view(principal: Principal, token: str, expires_at: datetime) -> SessionRead:
    return SessionRead(
        userid=principal.userid,
        admin=principal.is_admin,
        key_prefix=principal.key_prefix,
        expires_at=expires_at,
        csrf_token=csrf_token_for(token),
    )


def _cookie_token(request: Request) -> str:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise UnauthorizedError("not signed in", code="no_session")
    return token


@router.post("", status_code=status.HTTP_201_CREATED, response_model=SessionRead, responses=errors(401, 429))
async def sign_in(body: SignIn, request: Request, response: Response, state: StateDep) -> SessionRead:
    """Exchange an API key for a session cookie (HttpOnly, SameSite=Strict, Secure over HTTPS)."""
    principal = await authenticate_key(request, state, body.api_key)
    await state.rate_limiter.hit(principal.key_prefix)
    request.scope.setdefault("state", {})["principal"] = principal  # audited like any write
    new = await state.sessions.start(principal)
    response.set_cookie(
        SESSION_COOKIE,
        new.token,
        max_age=int(state.settings.dashboard.session_ttl_s),
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    response.headers["Cache-Control"] = "no-store"
    return _view(principal, new.token, new.expires_at)


@router.get("", response_model=SessionRead, responses=errors(401))
async def read_session(request: Request, response: Response, state: StateDep) -> SessionRead:
    """The current session (from its cookie) and its CSRF token."""
    token = _cookie_token(request)
    principal, expires_at = await state.sessions.principal(token)
    response.headers["Cache-Control"] = "no-store"
    return _view(principal, token, expires_at)


@router.delete("", status_code=status.HTTP_204_NO_CONTENT, responses=errors(401, 403))
async def sign_out(request: Request, state: StateDep) -> Response:
    """End the session: its cookie no longer works, here or on any replica."""
    token = _cookie_token(request)
    request.scope.setdefault("state", {})["principal"] = await session_principal(request, state, token)
    await state.sessions.end(token)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(
        SESSION_COOKIE, path="/", secure=request.url.scheme == "https", httponly=True, samesite="strict"
    )
    return response
