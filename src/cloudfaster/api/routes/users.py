"""Users and their quotas."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import JSONResponse

from cloudfaster.api.accepted import accepted, operation_ref
from cloudfaster.api.deps import AdminDep, AuthFirstRoute, CursorQuery, LimitQuery, PrincipalDep, StateDep
from cloudfaster.api.openapi import errors
from cloudfaster.api.schemas.core import (
    Page,
    QuotaLimits,
    QuotaRead,
    QuotaUpdate,
    QuotaUsage,
    UserCreate,
    UserRead,
)
from cloudfaster.api.schemas.users import BulkUserResult, UserDeletion, UsersBulkCreate, UsersBulkResult
from cloudfaster.core import audit
from cloudfaster.core import cascade as cascade_service
from cloudfaster.core import users as user_service
from cloudfaster.db.models import User

router = APIRouter(prefix="/users", tags=["users"], route_class=AuthFirstRoute)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=UserRead, responses=errors(409))
async def create_user(body: UserCreate, state: StateDep, _: AdminDep) -> User:
    """Register a user (admin only); a taken userid is 409."""
    audit.note_target("userid", body.userid)
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


@router.post(
    "/bulk", response_model=UsersBulkResult, responses={207: {"model": UsersBulkResult, "description": "Some failed"}}
)
async def create_users(body: UsersBulkCreate, state: StateDep, _: AdminDep) -> JSONResponse:
    """Register a list of users (admin only), each on its own: 200 when every entry is created or already there
    with the same username, 207 when some failed (see each entry's ``error``); re-running a list is harmless."""
    entries = [(user.userid, user.username) for user in body.users]
    results = [
        BulkUserResult.of(item) for item in await user_service.create_users(state.db, entries, with_keys=body.keys)
    ]
    view = UsersBulkResult(
        created=sum(r.outcome == "created" for r in results),
        existing=sum(r.outcome == "exists" for r in results),
        failed=sum(r.outcome == "failed" for r in results),
        results=results,
    )
    return JSONResponse(view.model_dump(mode="json"), status_code=207 if view.failed else 200)


@router.delete(
    "/{userid}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(409)
    | {202: {"model": UserDeletion, "description": "cascade=true: the deletion runs as an operation"}},
)
async def delete_user(
    userid: str,
    state: StateDep,
    admin: AdminDep,
    cascade: Annotated[bool, Query(description="Delete the user's VMs and services first, as an operation")] = False,
) -> Response:
    """Delete a user and their keys (admin only); 409 while they own VMs or services, unless ``cascade=true``:
    then 202 and a ``user.delete`` operation deletes them all, then the user."""
    if cascade:
        op, new = await cascade_service.start_deletion(state.db, admin, userid)
        if new:
            await state.instance.runner.dispatch(op.id)
        return accepted(UserDeletion(userid=userid, operation=operation_ref(op)), op)
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
            backups=usage.backups,
            backup_gb=round(usage.backup_bytes / 1024**3, 3),
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
