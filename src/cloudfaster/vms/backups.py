"""Backups of a VM: take one (vzdump to the admin's backup storage), list, delete, and restore over the same VM or
into a new VM of the same user (through ``vm.create``: the same VMID reservation, quota, placement and address
rules as any create). Every backup counts against the owner's backup quota (count, and GB once written)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from cloudfaster.core import operations as ops
from cloudfaster.core import users
from cloudfaster.core.errors import ConflictError
from cloudfaster.core.operations import Started
from cloudfaster.core.pagination import PageOf
from cloudfaster.core.principal import Principal
from cloudfaster.db.models import Operation, ProxmoxVM, User, VmBackup
from cloudfaster.proxmox.errors import ProxmoxError
from cloudfaster.vms import backup_store, store
from cloudfaster.vms.errors import BUSY, app_error, check_unprotected, require_usable
from cloudfaster.vms.params import BackupDeleteParams, BackupParams, OverwriteParams, RestoreSource, Sizes, VmSpec
from cloudfaster.vms.replay import replay_of
from cloudfaster.vms.runtime import VmRuntime
from cloudfaster.vms.service import (
    VmState,
    create_vm,
    get_vm,
    start_operation,
)


@dataclass(frozen=True, slots=True)
class BackupState:
    """A backup, its owner and the operation shown with it."""

    backup: VmBackup
    owner: str | None
    operation: Operation | None = None


def new_backup(vm: ProxmoxVM, user: User, node: str, storage: str, mode: str, *, scheduled: bool) -> VmBackup:
    """The row of a backup about to be taken of ``vm``, with the VM's sizes now."""
    return VmBackup(
        user_id=user.id, vmid=vm.vmid, name=vm.name, os=vm.os, cores=vm.cores, memory_mb=vm.memory_mb,
        disk_gb=vm.disk_gb, sshkeys=vm.sshkeys, node=node, storage=storage, mode=mode, scheduled=scheduled,
        status="creating",
    )  # fmt: skip


async def record_backup(
    session: AsyncSession, rt: VmRuntime, vm: ProxmoxVM, user: User, *, scheduled: bool, retention: int | None
) -> BackupParams:
    """Check the backup quota and add the backup row; the params of the ``vm.backup`` that fills it."""
    node = require_usable(vm)
    await users.check_backup_quota(session, user, rt.settings.quotas)
    settings = rt.proxmox
    backup = new_backup(vm, user, node, settings.backup_storage, settings.backup_mode, scheduled=scheduled)
    session.add(backup)
    await session.flush()
    return BackupParams(vmid=vm.vmid, node=node, backup_id=backup.id, storage=backup.storage, mode=backup.mode,
                        since=int(time.time()), retention=retention)  # fmt: skip


async def take_backup(rt: VmRuntime, principal: Principal, vmid: int, key: str | None) -> Started[VmState]:
    """Start ``vm.backup`` of an enabled VM (quota checked first)."""
    state = await get_vm(rt, principal, vmid)
    require_usable(state.vm)

    async def prepare(session: AsyncSession, vm: ProxmoxVM, owner: str) -> BackupParams:
        user = await users.get_user(session, principal, owner, lock=True)
        return await record_backup(session, rt, vm, user, scheduled=False, retention=None)

    return await start_operation(rt, principal, vmid, "vm.backup", {}, key, prepare)


async def list_backups(
    rt: VmRuntime, principal: Principal, *, vmid: int | None, limit: int, cursor: str | None
) -> PageOf[BackupState]:
    """The caller's backups (of one VM, which must be visible, when ``vmid`` is given)."""
    if vmid is not None:
        await get_vm(rt, principal, vmid)
    async with rt.db.read() as session:
        page = await backup_store.list_backups(session, principal, vmid=vmid, limit=limit, cursor=cursor)
    return page.map(lambda owned: BackupState(owned.backup, owned.owner))


async def get_backup(rt: VmRuntime, principal: Principal, backup_id: int) -> BackupState:
    """One backup with its latest operation (404 for another user's)."""
    async with rt.db.read() as session:
        owned = await backup_store.get_backup(session, principal, backup_id)
        op = await ops.shown_operation(session, "backup", str(backup_id))
    return BackupState(owned.backup, owned.owner, op)


def _available(backup: VmBackup) -> str:
    if backup.status != "available" or backup.volid is None:
        raise ConflictError(f"backup {backup.id} is {backup.status}", code="backup_not_available")
    return backup.volid


async def delete_backup(rt: VmRuntime, principal: Principal, backup_id: int, key: str | None) -> Started[BackupState]:
    """Mark the backup ``deleting`` and start ``backup.delete``; a deleted backup answers at once."""
    async with rt.db.write() as session:
        owned = await backup_store.get_backup(session, principal, backup_id)
        backup = owned.backup
        if backup.status == "deleted" or owned.owner is None:
            return Started(BackupState(backup, owned.owner), None)
        body_hash = ops.request_hash({"kind": "backup.delete", "backup": backup_id})
        replay = await ops.find_replay(session, owner_userid=owned.owner, idempotency_key=key, body_hash=body_hash)
        if replay is not None:
            return Started(BackupState(backup, owned.owner), replay.operation, replayed=True)
        volid = _available(backup)
        await backup_store.set_backup_status(session, backup_id, "deleting")
        params = BackupDeleteParams(backup_id=backup_id, node=backup.node, storage=backup.storage, volid=volid)
        op = ops.new_operation(
            kind="backup.delete", target_type="backup", target_id=str(backup_id), owner_userid=owned.owner,
            params=params, idempotency_key=key, body_hash=body_hash,
        )  # fmt: skip
        await ops.flush_operation(session, op)
    await rt.runner.dispatch(op.id)
    return Started(BackupState(backup, owned.owner), op)


async def _reachable_from(rt: VmRuntime, backup: VmBackup, node: str) -> bool:
    if node == backup.node:
        return True
    try:
        return await rt.hv().storage_shared(backup.node, backup.storage)
    except ProxmoxError as exc:
        raise app_error(exc, node=backup.node) from exc


async def restore_backup(
    rt: VmRuntime,
    principal: Principal,
    backup_id: int,
    target: Literal["same", "new"],
    spec: VmSpec | None,
    key: str | None,
) -> Started[VmState]:
    """Restore over the VM it was taken of (``vm.restore``) or into a new VM (``vm.create`` from the archive)."""
    current = await get_backup(rt, principal, backup_id)
    backup = current.backup
    volid = _available(backup)
    if target == "new":
        if spec is None:
            raise ValueError("a restore into a new VM needs its spec")
        try:
            shared = await rt.hv().storage_shared(backup.node, backup.storage)
        except ProxmoxError as exc:
            raise app_error(exc, node=backup.node) from exc
        source = RestoreSource(backup_id=backup.id, volid=volid, node=backup.node, storage=backup.storage,
                               shared=shared)  # fmt: skip
        return await create_vm(rt, principal, spec, key, restore=source)
    return await _overwrite(rt, principal, backup, volid, key)


async def _overwrite(
    rt: VmRuntime, principal: Principal, backup: VmBackup, volid: str, key: str | None
) -> Started[VmState]:
    vmid = backup.vmid
    request = {"backup": backup.id}
    replayed = await replay_of(rt, principal, vmid, "vm.restore", request, key)
    if replayed is not None:
        return replayed
    state = await get_vm(rt, principal, vmid)
    vm = state.vm
    if vm.status == "deleted":
        raise ConflictError(f"VM {vmid} was deleted; restore the backup into a new VM", code="vm_deleted")
    if vm.node is None or not await _reachable_from(rt, backup, vm.node):
        raise ConflictError(
            f"backup {backup.id} is not reachable from VM {vmid}'s node; restore it into a new VM instead",
            code="backup_not_on_node",
        )
    try:
        was_running = (await rt.hv().status(vm.node, vmid)).status == "running"
    except ProxmoxError as exc:
        raise app_error(exc, node=vm.node) from exc

    async def prepare(session: AsyncSession, row: ProxmoxVM, owner: str) -> OverwriteParams:
        if row.status in BUSY or row.status not in ("enabled", "failed") or row.node is None:
            raise ConflictError(f"VM {vmid} is {row.status}", code="vm_not_enabled")
        check_unprotected(row, "overwritten by a restore")
        user = await users.get_user(session, principal, owner, lock=True)
        await users.check_vm_quota(
            session, user, rt.settings.quotas, vms=0, vcpus=max(0, backup.cores - row.cores),
            memory_mb=max(0, backup.memory_mb - row.memory_mb), disk_gb=max(0, backup.disk_gb - row.disk_gb),
        )  # fmt: skip
        old = Sizes(cores=row.cores, memory=row.memory_mb, disk=row.disk_gb)
        previous = row.status
        await store.set_status(session, vmid, "restoring", cores=backup.cores, memory_mb=backup.memory_mb,
                               disk_gb=backup.disk_gb)  # fmt: skip
        return OverwriteParams(vmid=vmid, node=row.node, backup_id=backup.id, volid=volid, old=old,
                               was_running=was_running, previous_status=previous, since=int(time.time()))  # fmt: skip

    return await start_operation(rt, principal, vmid, "vm.restore", request, key, prepare)
