"""Users: registration, lookup, deletion and quotas."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import ColumnElement, ScalarSelect, bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cloudfaster.core.cache import SingleFlightCache
from cloudfaster.core.errors import AppError, ConflictError, NotFoundError, QuotaExceededError
from cloudfaster.core.keys import CreatedKey, create_key
from cloudfaster.core.pagination import PageOf, paginate
from cloudfaster.core.principal import Principal
from cloudfaster.db.engine import Database
from cloudfaster.db.models import DockerService, Operation, ProxmoxVM, User, VmBackup
from cloudfaster.settings import QuotaDefaults

QUOTA_FIELDS = ("max_vms", "max_vcpus", "max_memory_mb", "max_disk_gb", "max_services", "max_snapshots_per_vm",
                "max_backups", "max_backup_gb")  # fmt: skip
GIB = 1024**3
# Backups that hold (or will hold) an archive.
HELD_BACKUPS = ("creating", "available", "deleting")


@dataclass(frozen=True, slots=True)
class Usage:
    """What a user holds right now (resources not deleted)."""

    vms: int
    vcpus: int
    memory_mb: int
    disk_gb: int
    services: int
    backups: int = 0
    backup_bytes: int = 0
    deleting: str | None = None  # the user.delete operation running for the user


async def create_user(session: AsyncSession, *, userid: str, username: str) -> User:
    """Register a user; a taken userid is a 409."""
    if await find_user(session, userid) is not None:
        raise ConflictError(f"userid {userid!r} is already registered", code="userid_taken")
    user = User(userid=userid, username=username)
    session.add(user)
    try:
        await session.flush()
    except IntegrityError as exc:  # a concurrent registration won the race
        raise ConflictError(f"userid {userid!r} is already registered", code="userid_taken") from exc
    return user


USER = select(User).where(User.userid == bindparam("userid"))
USER_LOCKED = USER.with_for_update()


async def find_user(session: AsyncSession, userid: str) -> User | None:
    """The user with this userid, or None."""
    return (await session.execute(USER, {"userid": userid})).scalar_one_or_none()


async def get_user(session: AsyncSession, principal: Principal, userid: str, *, lock: bool = False) -> User:
    """A user the caller may see (admins: anyone; users: themselves), else 404."""
    principal.ensure_visible(userid, "user")
    user = (await session.execute(USER_LOCKED if lock else USER, {"userid": userid})).scalar_one_or_none()
    if user is None:
        raise NotFoundError("user not found")
    return user


@dataclass(frozen=True, slots=True)
class UserCard:
    """A user as served by ``GET /users/{userid}``: its JSON rendered once. A user's card never changes."""

    userid: str
    json: bytes


class UserDirectory:
    """A short-lived cache of user cards: the one read every client makes, served without a database trip.

    A deletion is seen at once by this process and within ``ttl_s`` by other replicas.
    """

    def __init__(self, db: Database, render: Callable[[User], bytes], ttl_s: float = 5.0) -> None:
        self._db = db
        self._render = render
        self._cache: SingleFlightCache[str, UserCard] = SingleFlightCache(ttl_s)

    async def card(self, principal: Principal, userid: str) -> UserCard:
        """The card of a user the caller may see, else 404."""
        principal.ensure_visible(userid, "user")
        return self._cache.peek(userid) or await self._cache.get(userid, lambda: self._load(principal, userid))

    async def _load(self, principal: Principal, userid: str) -> UserCard:
        async with self._db.read() as session:
            user = await get_user(session, principal, userid)
        return UserCard(userid=user.userid, json=self._render(user))

    def forget(self, userid: str) -> None:
        """Drop a user's card (after deleting the user)."""
        self._cache.pop(userid)


async def list_users(session: AsyncSession, *, limit: int, cursor: str | None) -> PageOf[User]:
    """All users, one page at a time."""
    return await paginate(session, select(User), [User.id], limit=limit, cursor=cursor)


async def set_quota(session: AsyncSession, admin: Principal, userid: str, limits: Mapping[str, int | None]) -> User:
    """Change some of a user's limits (None resets one to the default); the others stay."""
    user = await get_user(session, admin, userid, lock=True)
    for name, value in limits.items():
        if name not in QUOTA_FIELDS:
            raise ValueError(f"not a quota: {name}")
        setattr(user, name, value)
    return user


def _total(value: ColumnElement[Any], *where: ColumnElement[bool]) -> ScalarSelect[Any]:
    return select(value).where(*where).scalar_subquery()


_LIVE_VMS = (ProxmoxVM.user_id == bindparam("user_id"), ProxmoxVM.status != "deleted")
_LIVE_SERVICES = (DockerService.user_id == bindparam("user_id"), DockerService.status != "deleted")
_HELD_BACKUPS = (VmBackup.user_id == bindparam("user_id"), VmBackup.status.in_(HELD_BACKUPS))
# Built once, with the user as bound values: building these subqueries each time cost as much CPU as running them.
USAGE = select(
    _total(func.count(ProxmoxVM.id), *_LIVE_VMS),
    _total(func.sum(ProxmoxVM.cores), *_LIVE_VMS),
    _total(func.sum(ProxmoxVM.memory_mb), *_LIVE_VMS),
    _total(func.sum(ProxmoxVM.disk_gb), *_LIVE_VMS),
    _total(func.count(DockerService.id), *_LIVE_SERVICES),
    _total(func.count(VmBackup.id), *_HELD_BACKUPS),
    _total(func.sum(VmBackup.size_bytes), *_HELD_BACKUPS),
    select(Operation.id)
    .where(Operation.active_target == bindparam("user_target"), Operation.kind == "user.delete")
    .limit(1)
    .scalar_subquery(),
)


async def usage_of(session: AsyncSession, user: User) -> Usage:
    """Count the user's live VMs (and their resources), services and held backups, and find a deletion of the user
    under way, in one statement."""
    row = (await session.execute(USAGE, {"user_id": user.id, "user_target": f"user:{user.userid}"})).one()
    *counts, deleting = row
    vms, vcpus, memory_mb, disk_gb, services, backups, backup_bytes = (int(value or 0) for value in counts)
    return Usage(vms, vcpus, memory_mb, disk_gb, services, backups, backup_bytes, deleting=deleting)


def effective_quota(user: User, defaults: QuotaDefaults) -> QuotaDefaults:
    """The user's limits: overrides where set, defaults elsewhere."""
    values = {field: getattr(user, field) for field in QUOTA_FIELDS if getattr(user, field) is not None}
    return defaults.model_copy(update=values)


async def check_vm_quota(
    session: AsyncSession,
    user: User,
    defaults: QuotaDefaults,
    *,
    vms: int,
    vcpus: int,
    memory_mb: int,
    disk_gb: int,
) -> None:
    """Refuse (409 quota_exceeded) if adding these VM resources would go over the user's quota (and anything while
    the user is being deleted)."""
    usage = await usage_of(session, user)
    if vms:
        refuse_while_deleted(user, usage)
    quota = effective_quota(user, defaults)
    over = {
        name: {"limit": limit, "in_use": used, "requested": wanted}
        for name, limit, used, wanted in (
            ("vms", quota.max_vms, usage.vms, vms),
            ("vcpus", quota.max_vcpus, usage.vcpus, vcpus),
            ("memory_mb", quota.max_memory_mb, usage.memory_mb, memory_mb),
            ("disk_gb", quota.max_disk_gb, usage.disk_gb, disk_gb),
        )
        if wanted > 0 and used + wanted > limit
    }
    if over:
        raise QuotaExceededError(f"quota exceeded: {', '.join(over)}", details=over)


async def check_service_quota(session: AsyncSession, user: User, defaults: QuotaDefaults) -> None:
    """Refuse (409 quota_exceeded) if the user may not have one more service (none while being deleted)."""
    usage = await usage_of(session, user)
    refuse_while_deleted(user, usage)
    quota = effective_quota(user, defaults)
    if usage.services + 1 > quota.max_services:
        raise QuotaExceededError(
            "quota exceeded: services",
            details={"services": {"limit": quota.max_services, "in_use": usage.services, "requested": 1}},
        )


async def check_backup_quota(session: AsyncSession, user: User, defaults: QuotaDefaults) -> None:
    """Refuse (409 quota_exceeded) one more backup: over the count, or the archives already fill the GB limit (a new
    archive's size is known only once it is written, and counts from then on)."""
    quota = effective_quota(user, defaults)
    usage = await usage_of(session, user)
    over: dict[str, dict[str, int]] = {}
    if usage.backups + 1 > quota.max_backups:
        over["backups"] = {"limit": quota.max_backups, "in_use": usage.backups, "requested": 1}
    if usage.backup_bytes >= quota.max_backup_gb * GIB:
        over["backup_gb"] = {"limit": quota.max_backup_gb, "in_use": -(-usage.backup_bytes // GIB), "requested": 1}
    if over:
        raise QuotaExceededError(f"quota exceeded: {', '.join(over)}", details=over)


def check_snapshot_quota(user: User, defaults: QuotaDefaults, existing: int) -> None:
    """Refuse (409 quota_exceeded) one more snapshot of a VM that has ``existing`` ones."""
    limit = effective_quota(user, defaults).max_snapshots_per_vm
    if existing + 1 > limit:
        raise QuotaExceededError(
            "quota exceeded: snapshots per VM",
            details={"snapshots_per_vm": {"limit": limit, "in_use": existing, "requested": 1}},
        )


async def delete_user(session: AsyncSession, userid: str, admin: Principal) -> None:
    """Delete a user and their keys; refused while they still own live VMs or services."""
    user = await get_user(session, admin, userid, lock=True)
    await _refuse_if_owning(session, user)
    await session.delete(user)


async def remove_user(session: AsyncSession, userid: str) -> bool:
    """Delete a user who owns nothing any more, with their keys (409 if they still do); False if already gone."""
    user = (await session.execute(USER_LOCKED, {"userid": userid})).scalar_one_or_none()
    if user is None:
        return False
    await _refuse_if_owning(session, user)
    await session.delete(user)
    return True


async def _refuse_if_owning(session: AsyncSession, user: User) -> None:
    usage = await usage_of(session, user)
    if usage.vms or usage.services:
        raise ConflictError(
            f"user {user.userid!r} still owns {usage.vms} VM(s) and {usage.services} service(s); "
            "DELETE /users/{userid}?cascade=true deletes them first",
            code="user_has_resources",
            details={"vms": usage.vms, "services": usage.services},
        )


def refuse_while_deleted(user: User, usage: Usage) -> None:
    """409 ``user_being_deleted`` while a ``user.delete`` operation runs for this user: they create nothing new."""
    if usage.deleting is not None:
        raise ConflictError(
            f"user {user.userid!r} is being deleted",
            code="user_being_deleted",
            details={"operation_id": usage.deleting},
        )


BulkOutcome = Literal["created", "exists", "failed"]


@dataclass(frozen=True, slots=True)
class BulkItem:
    """What happened to one entry of a bulk registration: ``created`` (with its key, when asked for), ``exists``
    (the same userid and username were already registered: re-running a list is harmless) or ``failed``."""

    userid: str
    outcome: BulkOutcome
    user: User | None = None
    key: CreatedKey | None = None
    error: AppError | None = None


async def create_users(db: Database, entries: list[tuple[str, str]], *, with_keys: bool) -> list[BulkItem]:
    """Register each (userid, username) in its own transaction: one entry's failure leaves the others alone."""
    results = []
    for userid, username in entries:
        try:
            async with db.write() as session:
                existing = await find_user(session, userid)
                if existing is not None and existing.username == username:
                    results.append(BulkItem(userid, "exists", user=existing))
                    continue
                user = await create_user(session, userid=userid, username=username)
                key = await create_key(session, user=user, name="bulk") if with_keys else None
            results.append(BulkItem(userid, "created", user=user, key=key))
        except AppError as exc:
            results.append(BulkItem(userid, "failed", error=exc))
    return results
