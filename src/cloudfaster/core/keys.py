"""API keys: create, list, revoke, and authenticate a token."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloudfaster.core import apikeys
from cloudfaster.core.cache import SingleFlightCache
from cloudfaster.core.errors import ConflictError, NotFoundError, UnauthorizedError, ValidationFailedError
from cloudfaster.core.pagination import PageOf, paginate
from cloudfaster.core.principal import Principal
from cloudfaster.db.base import utcnow
from cloudfaster.db.engine import Database
from cloudfaster.db.models import ApiKey, User


@dataclass(frozen=True, slots=True)
class CreatedKey:
    """A stored key together with its token, which is never shown again."""

    key: ApiKey
    token: str
    userid: str | None


async def create_key(
    session: AsyncSession,
    *,
    user: User | None,
    name: str = "",
    expires_at: datetime | None = None,
    token: str | None = None,
) -> CreatedKey:
    """Store a new key for ``user`` (None makes an admin key) and return its token once."""
    if expires_at is not None and expires_at <= utcnow():
        raise ValidationFailedError("expires_at must be in the future", code="expiry_in_past")
    new = apikeys.key_from_token(token) if token else apikeys.generate_key()
    key = ApiKey(
        prefix=new.prefix,
        key_hash=new.key_hash,
        name=name,
        is_admin=user is None,
        user_id=None if user is None else user.id,
        expires_at=expires_at,
    )
    session.add(key)
    await session.flush()
    return CreatedKey(key=key, token=new.token, userid=None if user is None else user.userid)


async def get_visible_key(session: AsyncSession, principal: Principal, prefix: str) -> tuple[ApiKey, str | None]:
    """A key with its owner's userid, if the caller may see it."""
    row = (
        await session.execute(
            select(ApiKey, User.userid).outerjoin(User, ApiKey.user_id == User.id).where(ApiKey.prefix == prefix)
        )
    ).one_or_none()
    if row is None or not (principal.is_admin or (row[1] is not None and row[1] == principal.userid)):
        raise NotFoundError("key not found")
    return row[0], row[1]


async def list_keys(
    session: AsyncSession, principal: Principal, *, userid: str | None, limit: int, cursor: str | None
) -> PageOf[tuple[ApiKey, str | None]]:
    """Keys with their owners' userids: admins all (or one user's), users their own."""
    query = select(ApiKey, User.userid).outerjoin(User, ApiKey.user_id == User.id)
    if not principal.is_admin:
        query = query.where(ApiKey.user_id == principal.user_id)
    elif userid:
        query = query.where(User.userid == userid)
    return await paginate(session, query, [ApiKey.id], limit=limit, cursor=cursor, scalars=False)


def _valid_admin() -> ColumnElement[bool]:
    return and_(
        ApiKey.is_admin.is_(True),
        ApiKey.revoked_at.is_(None),
        or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > utcnow()),
    )


async def _keep_a_lasting_admin_key(session: AsyncSession, leaving: ApiKey) -> None:
    """Refuse to revoke the last valid admin key that never expires: without one, only shell access recovers."""
    # FOR UPDATE (a no-op on SQLite, whose writers are serialised anyway) makes two admins revoking each other's
    # keys at once take turns, so the second sees the first revocation and is refused.
    lasting = select(ApiKey.id).where(_valid_admin(), ApiKey.expires_at.is_(None)).with_for_update()
    if not set((await session.execute(lasting)).scalars()) - {leaving.id}:
        raise ConflictError(
            "this is the last admin key that does not expire: create another admin key first, then revoke this one",
            code="last_admin_key",
        )


async def revoke_key(session: AsyncSession, principal: Principal, prefix: str) -> ApiKey:
    """Revoke a key; revoking twice is harmless; the last lasting admin key is a 409."""
    key, _ = await get_visible_key(session, principal, prefix)
    if key.revoked_at is None:
        if key.is_admin:
            await _keep_a_lasting_admin_key(session, key)
        key.revoked_at = utcnow()
    return key


async def count_admin_keys(session: AsyncSession) -> int:
    """How many admin keys can be used now (not revoked, not expired)."""
    return (await session.execute(select(func.count(ApiKey.id)).where(_valid_admin()))).scalar_one()


MAX_TOKEN_CHARS = 200


class Authenticator:
    """Turns an ``X-API-Key`` token into a Principal, with a short cache so reads need no key lookup.

    A revocation is seen at once by the process that made it and within ``ttl_s`` by other replicas.
    """

    def __init__(self, database: Database, ttl_s: float = 5.0) -> None:
        self._db = database
        self._cache: SingleFlightCache[str, tuple[Principal, datetime | None]] = SingleFlightCache(ttl_s)
        self._by_id: SingleFlightCache[int, tuple[Principal, datetime | None]] = SingleFlightCache(ttl_s)

    def forget(self, prefix: str) -> None:
        """Drop cached entries of a key (after a revocation or deletion)."""
        self._cache.pop_where(lambda cached: cached[0].key_prefix == prefix)
        self._by_id.pop_where(lambda cached: cached[0].key_prefix == prefix)

    def forget_all(self) -> None:
        """Empty the cache."""
        self._cache.clear()
        self._by_id.clear()

    def cached(self, token: str) -> Principal | None:
        """The caller behind ``token`` when the cache answers (no database lookup), else None; Unauthorized when the
        cached key has expired since."""
        if len(token) > MAX_TOKEN_CHARS:
            return None
        entry = self._cache.peek(apikeys.hash_token(token))
        return None if entry is None else _unexpired(*entry)

    async def authenticate(self, token: str | None) -> Principal:
        """The caller behind a token, or Unauthorized."""
        if not token:
            raise UnauthorizedError("missing X-API-Key header", code="missing_api_key")
        if len(token) > MAX_TOKEN_CHARS:
            raise UnauthorizedError("invalid API key", code="invalid_api_key")
        return _unexpired(*await self._cache.get(apikeys.hash_token(token), lambda: self._lookup(token)))

    async def authenticate_key_id(self, key_id: int) -> Principal:
        """The caller behind a stored key (a dashboard session's), or Unauthorized once it is revoked or expired."""
        return _unexpired(*await self._by_id.get(key_id, lambda: self._lookup_id(key_id)))

    async def _lookup_id(self, key_id: int) -> tuple[Principal, datetime | None]:
        async with self._db.read() as session:
            row = (
                await session.execute(
                    select(ApiKey, User.userid).outerjoin(User, ApiKey.user_id == User.id).where(ApiKey.id == key_id)
                )
            ).one_or_none()
        if row is None:
            raise UnauthorizedError("the API key of this session no longer exists", code="invalid_api_key")
        return _checked(*row)

    async def _lookup(self, token: str) -> tuple[Principal, datetime | None]:
        async with self._db.read() as session:
            row = (
                await session.execute(
                    select(ApiKey, User.userid)
                    .outerjoin(User, ApiKey.user_id == User.id)
                    .where(ApiKey.prefix == apikeys.lookup_prefix(token))
                )
            ).one_or_none()
        if row is None or not apikeys.matches(token, row[0].key_hash):
            raise UnauthorizedError("invalid API key", code="invalid_api_key")
        return _checked(*row)


def _unexpired(principal: Principal, expires_at: datetime | None) -> Principal:
    if expires_at is not None and expires_at <= utcnow():
        raise UnauthorizedError("this API key has expired", code="expired_api_key")
    return principal


def _checked(key: ApiKey, userid: str | None) -> tuple[Principal, datetime | None]:
    if key.revoked_at is not None:
        raise UnauthorizedError("this API key was revoked", code="revoked_api_key")
    if key.expires_at is not None and key.expires_at <= utcnow():
        raise UnauthorizedError("this API key has expired", code="expired_api_key")
    principal = Principal(
        key_id=key.id, key_prefix=key.prefix, is_admin=key.is_admin, user_id=key.user_id, userid=userid
    )
    return principal, key.expires_at
