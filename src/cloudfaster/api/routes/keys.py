"""API keys: create (shown once), list, read, revoke."""

from __future__ import annotations

from fastapi import APIRouter, Query, status

from cloudfaster.api.deps import AuthFirstRoute, CursorQuery, LimitQuery, PrincipalDep, StateDep
from cloudfaster.api.openapi import errors
from cloudfaster.api.schemas.core import KeyCreate, KeyCreated, KeyRead, Page
from cloudfaster.core import audit
from cloudfaster.core import keys as key_service
from cloudfaster.core import users as user_service
from cloudfaster.core.errors import ForbiddenError, ValidationFailedError
from cloudfaster.db.models import ApiKey

router = APIRouter(prefix="/keys", tags=["keys"], route_class=AuthFirstRoute)


def _read(key: ApiKey, userid: str | None) -> KeyRead:
    return KeyRead(
        prefix=key.prefix,
        name=key.name,
        admin=key.is_admin,
        userid=userid,
        created_at=key.created_at,
        expires_at=key.expires_at,
        revoked_at=key.revoked_at,
    )


@router.post("", status_code=status.HTTP_201_CREATED, response_model=KeyCreated, responses=errors(403, 404))
async def create_key(body: KeyCreate, state: StateDep, principal: PrincipalDep) -> KeyCreated:
    """Create a key; its secret is in ``key`` and is never shown again. Users may create keys for themselves."""
    if body.admin and body.userid:
        raise ValidationFailedError("an admin key is not bound to a user: omit userid", code="admin_key_with_userid")
    if body.admin or not principal.is_admin:
        if body.admin:
            principal.require_admin()
        elif body.userid not in (None, principal.userid):
            raise ForbiddenError("a user key may create keys only for its own user", code="other_user")
    elif not body.userid:
        raise ValidationFailedError("name the userid the key is for, or set admin=true", code="userid_required")
    async with state.db.write() as session:
        user = None
        if not body.admin:
            user = await user_service.get_user(session, principal, body.userid or principal.userid or "")
        created = await key_service.create_key(session, user=user, name=body.name, expires_at=body.expires_at)
    audit.note_target("key", created.key.prefix)
    return KeyCreated(**_read(created.key, created.userid).model_dump(), key=created.token)


@router.get("", response_model=Page[KeyRead])
async def list_keys(
    state: StateDep,
    principal: PrincipalDep,
    userid: str | None = Query(default=None, max_length=64),
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[KeyRead]:
    """List keys' metadata: admins all (optionally one user's), users their own."""
    async with state.db.read() as session:
        page = await key_service.list_keys(session, principal, userid=userid, limit=limit, cursor=cursor)
    return Page(items=[_read(key, owner) for key, owner in page.items], next_cursor=page.next_cursor)


@router.get("/{prefix}", response_model=KeyRead)
async def get_key(prefix: str, state: StateDep, principal: PrincipalDep) -> KeyRead:
    """One key's metadata."""
    async with state.db.read() as session:
        key, owner = await key_service.get_visible_key(session, principal, prefix)
    return _read(key, owner)


@router.delete("/{prefix}", response_model=KeyRead, responses=errors(409))
async def revoke_key(prefix: str, state: StateDep, principal: PrincipalDep) -> KeyRead:
    """Revoke a key at once; it stays listed with ``revoked_at``."""
    async with state.db.write() as session:
        key = await key_service.revoke_key(session, principal, prefix)
        _, owner = await key_service.get_visible_key(session, principal, prefix)
    state.authenticator.forget(prefix)
    return _read(key, owner)
