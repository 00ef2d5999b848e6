"""Users and their quotas."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from cloudfaster.api.deps import AdminDep, CursorQuery, LimitQuery, PrincipalDep, StateDep
from cloudfaster.api.schemas.core import (
    Page,
    QuotaLimits,
    QuotaRead,
    QuotaUpdate,
    QuotaUsage,
    UserCreate,
    UserRead,
)
from cloudfaster.core import users as user_service
from cloudfaster.db.models import User

router = APIRouter(prefix="/users", tags=["users"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=UserRead)
async def create_user(body: UserCreate, state: StateDep, _: AdminDep) -> User:
    """Register a user (admin only); a taken userid is 409."""
    async with state.db.write() as session:
        return await user_service.create_user(session, userid=body.userid, username=body.username)


@router.get("", response_model=Page[UserRead])
async def list_users(
    state: StateDep, _: AdminDep, limit: LimitQuery = 50, cursor: CursorQuery = None
) -> Page[UserRead]:
    """List users (admin only)."""
    async with state.db.read() as session:
        page = await user_service.list_users(session, limit=limit, cursor=cursor)
    return Page(items=[UserRead.model_validate(u) for u in page.items], next_cursor=page.next_cursor)


@router.get("/{userid}", response_model=UserRead)
async def get_user(userid: str, request: Request, principal: PrincipalDep) -> Response:
    """Read a user (admins: anyone; users: themselves)."""
    # The read every client polls: the state comes from the request (one dependency resolution fewer).
    card = await request.app.state.cf.users.card(principal, userid)
    # The card's JSON is rendered once when it is cached; this is the read every client polls.
    return Response(card.json, media_type="application/json")


@router.delete("/{userid}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_user(userid: str, state: StateDep, admin: AdminDep) -> Response:
    """Delete a user and their keys (admin only); 409 while they own VMs or services."""
    async with state.db.write() as session:
        await user_service.delete_user(session, userid, admin)
    state.authenticator.forget_all()
    state.users.forget(userid)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


async def _quota_view(state: StateDep, user: User) -> QuotaRead:
    async with state.db.read() as session:
        usage = await user_service.usage_of(session, user)
    limits = user_service.effective_quota(user, state.settings.quotas)
    return QuotaRead(
        userid=user.userid,
        limits=QuotaLimits.model_validate(limits.model_dump()),
        usage=QuotaUsage(
            vms=usage.vms,
            vcpus=usage.vcpus,
            memory_mb=usage.memory_mb,
            disk_gb=usage.disk_gb,
            services=usage.services,
        ),
    )


@router.get("/{userid}/quota", response_model=QuotaRead)
async def get_quota(userid: str, state: StateDep, principal: PrincipalDep) -> QuotaRead:
    """A user's limits and usage (admins: anyone; users: themselves)."""
    async with state.db.read() as session:
        user = await user_service.get_user(session, principal, userid)
    return await _quota_view(state, user)


@router.put("/{userid}/quota", response_model=QuotaRead)
async def set_quota(userid: str, body: QuotaUpdate, state: StateDep, admin: AdminDep) -> QuotaRead:
    """Change a user's limits (admin only); null resets a limit to the default."""
    async with state.db.write() as session:
        user = await user_service.set_quota(session, admin, userid, body.model_dump(exclude_unset=True))
    return await _quota_view(state, user)
