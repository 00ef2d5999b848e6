"""Snapshots of a VM: list (the tree PVE keeps), take, roll back, delete. The checks before any side effect:
the name (PVE's ``pve-configid``), the per-user limit of snapshots per VM, and PVE's lock."""

from __future__ import annotations

import re
import time

from sqlalchemy.ext.asyncio import AsyncSession

from cloudfaster.core import users
from cloudfaster.core.errors import ConflictError, NotFoundError, ValidationFailedError
from cloudfaster.core.operations import Started
from cloudfaster.core.principal import Principal
from cloudfaster.db.models import ProxmoxVM
from cloudfaster.proxmox.errors import ProxmoxError
from cloudfaster.proxmox.types import SnapshotTree
from cloudfaster.vms.errors import app_error, require_usable
from cloudfaster.vms.params import RollbackParams, SnapshotDeleteParams, SnapshotParams
from cloudfaster.vms.replay import replay_of
from cloudfaster.vms.runtime import VmRuntime
from cloudfaster.vms.service import VmState, get_vm, start_operation

# pve-configid (JSONSchema.pm) with the API's maxLength 40; `current` and `pending` are reserved (Qemu.pm snapshot).
NAME = re.compile(r"^[a-z][a-z0-9_-]{1,39}$", re.IGNORECASE)
RESERVED = ("current", "pending")


def check_name(name: str) -> None:
    """422 ``invalid_snapshot_name`` unless PVE would take the name."""
    if not NAME.match(name) or name.lower() in RESERVED:
        raise ValidationFailedError(
            f"invalid snapshot name {name!r}: 2-40 letters, digits, '-' or '_', starting with a letter; "
            "'current' and 'pending' are reserved",
            code="invalid_snapshot_name",
        )


async def _tree(rt: VmRuntime, vm: ProxmoxVM) -> tuple[str, SnapshotTree]:
    node = require_usable(vm)
    try:
        tree = await rt.hv().snapshots(node, vm.vmid)
    except ProxmoxError as exc:
        raise app_error(exc, node=node) from exc
    return node, tree


async def list_snapshots(rt: VmRuntime, principal: Principal, vmid: int) -> SnapshotTree:
    """The VM's snapshots as PVE holds them (404 for another user's VM)."""
    state = await get_vm(rt, principal, vmid)
    return (await _tree(rt, state.vm))[1]


async def _unlocked(rt: VmRuntime, node: str, vmid: int) -> None:
    try:
        lock = (await rt.hv().status(node, vmid)).lock
    except ProxmoxError as exc:
        raise app_error(exc, node=node) from exc
    if lock:
        raise ConflictError(f"the VM is locked in Proxmox VE ({lock}); try again shortly", code="vm_locked")


async def take_snapshot(
    rt: VmRuntime, principal: Principal, vmid: int, name: str, description: str, vmstate: bool, key: str | None
) -> Started[VmState]:
    """Start ``vm.snapshot`` after the name, the lock, the name's uniqueness and the quota are checked."""
    check_name(name)
    request = {"name": name, "description": description, "vmstate": vmstate}
    replayed = await replay_of(rt, principal, vmid, "vm.snapshot", request, key)
    if replayed is not None:
        return replayed
    state = await get_vm(rt, principal, vmid)
    node, tree = await _tree(rt, state.vm)
    if any(s.name == name for s in tree.snapshots):
        raise ConflictError(f"VM {vmid} already has a snapshot {name!r}", code="snapshot_exists")
    await _unlocked(rt, node, vmid)

    async def prepare(session: AsyncSession, vm: ProxmoxVM, owner: str) -> SnapshotParams:
        user = await users.get_user(session, principal, owner, lock=True)
        users.check_snapshot_quota(user, rt.settings.quotas, len(tree.snapshots))
        return SnapshotParams(vmid=vmid, node=require_usable(vm), name=name, description=description,
                              vmstate=vmstate, since=int(time.time()))  # fmt: skip

    return await start_operation(rt, principal, vmid, "vm.snapshot", request, key, prepare)


async def _existing(rt: VmRuntime, principal: Principal, vmid: int, name: str) -> str:
    state = await get_vm(rt, principal, vmid)
    node, tree = await _tree(rt, state.vm)
    if not any(s.name == name for s in tree.snapshots):
        raise NotFoundError(f"VM {vmid} has no snapshot {name!r}", code="snapshot_not_found")
    await _unlocked(rt, node, vmid)
    return node


async def rollback(
    rt: VmRuntime, principal: Principal, vmid: int, name: str, start: bool, key: str | None
) -> Started[VmState]:
    """Start ``vm.rollback`` to an existing snapshot."""
    request = {"name": name, "start": start}
    replayed = await replay_of(rt, principal, vmid, "vm.rollback", request, key)
    if replayed is not None:
        return replayed
    await _existing(rt, principal, vmid, name)

    async def prepare(session: AsyncSession, vm: ProxmoxVM, owner: str) -> RollbackParams:
        return RollbackParams(vmid=vmid, node=require_usable(vm), name=name, start=start, since=int(time.time()))

    return await start_operation(rt, principal, vmid, "vm.rollback", request, key, prepare)


async def delete_snapshot(
    rt: VmRuntime, principal: Principal, vmid: int, name: str, key: str | None
) -> Started[VmState]:
    """Start ``vm.snapshot_delete`` of an existing snapshot (its children move up to its parent, as in PVE)."""
    replayed = await replay_of(rt, principal, vmid, "vm.snapshot_delete", {"name": name}, key)
    if replayed is not None:
        return replayed
    await _existing(rt, principal, vmid, name)

    async def prepare(session: AsyncSession, vm: ProxmoxVM, owner: str) -> SnapshotDeleteParams:
        return SnapshotDeleteParams(vmid=vmid, node=require_usable(vm), name=name, since=int(time.time()))

    return await start_operation(rt, principal, vmid, "vm.snapshot_delete", {"name": name}, key, prepare)
