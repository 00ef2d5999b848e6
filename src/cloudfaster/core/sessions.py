"""Dashboard sessions: an API key exchanged for a random cookie token, stored as a hash, shared by all replicas.

A session holds no secret of its own: every request re-checks the key it was made from (through the
Authenticator's cache), so revoking or expiring the key ends its sessions. Signing out is seen at once by the
process that served it and within ``cache_ttl_s`` by other replicas, as a key revocation is.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete

from cloudfaster.core.cache import SingleFlightCache
from cloudfaster.core.errors import UnauthorizedError
from cloudfaster.core.keys import Authenticator
from cloudfaster.core.principal import Principal
from cloudfaster.db.base import utcnow
from cloudfaster.db.engine import Database
from cloudfaster.db.models import WebSession


@dataclass(frozen=True, slots=True)
class NewSession:
    """A session just made: its cookie token (never stored) and the CSRF token that goes with it."""

    token: str
    csrf_token: str
    expires_at: datetime


def csrf_token_for(token: str) -> str:
    """The CSRF token bound to a session token: derived from it, so nothing more is stored or can be swapped."""
    return hmac.new(token.encode(), b"cloudfaster-csrf", hashlib.sha256).hexdigest()


def csrf_matches(token: str, given: str | None) -> bool:
    """Whether ``given`` is the CSRF token of the session ``token``, compared in constant time."""
    return given is not None and hmac.compare_digest(csrf_token_for(token), given)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SessionStore:
    """Starts, checks and ends sessions; lookups are cached briefly, like API keys."""

    def __init__(self, database: Database, authenticator: Authenticator, *, ttl_s: float, cache_ttl_s: float = 5.0):
        self._db = database
        self._auth = authenticator
        self._ttl = timedelta(seconds=ttl_s)
        self._cache: SingleFlightCache[str, tuple[int, datetime]] = SingleFlightCache(cache_ttl_s)

    async def start(self, principal: Principal) -> NewSession:
        """A new session for the caller's key; expired sessions are cleared on the way."""
        token = secrets.token_urlsafe(32)
        now = utcnow()
        expires_at = now + self._ttl
        async with self._db.write() as session:
            await session.execute(delete(WebSession).where(WebSession.expires_at <= now))
            session.add(WebSession(token_hash=_hash(token), api_key_id=principal.key_id, expires_at=expires_at))
        return NewSession(token=token, csrf_token=csrf_token_for(token), expires_at=expires_at)

    async def principal(self, token: str) -> tuple[Principal, datetime]:
        """The caller behind a session token and when the session ends, or Unauthorized."""
        if len(token) > 100:
            raise UnauthorizedError("this session is not valid: sign in again", code="invalid_session")
        key_id, expires_at = await self._cache.get(_hash(token), lambda: self._lookup(token))
        if expires_at <= utcnow():
            raise UnauthorizedError("this session has expired: sign in again", code="session_expired")
        return await self._auth.authenticate_key_id(key_id), expires_at

    async def end(self, token: str) -> None:
        """Sign out: the session is gone; ending it twice is harmless."""
        self._cache.pop(_hash(token))
        async with self._db.write() as session:
            await session.execute(delete(WebSession).where(WebSession.token_hash == _hash(token)))

    async def _lookup(self, token: str) -> tuple[int, datetime]:
        async with self._db.read() as session:
            row = await session.get(WebSession, _hash(token))
        if row is None:
            raise UnauthorizedError("this session is not valid: sign in again", code="invalid_session")
        return row.api_key_id, row.expires_at
