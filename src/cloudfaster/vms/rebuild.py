"""Rebuild (reinstall a VM from an OS template, keeping VMID, owner, node and addresses) and delete protection."""

from __future__ import annotations

import time

from sqlalchemy.ext.asyncio import AsyncSession

from cloudfaster.core.errors import ConflictError, ValidationFailedError
from cloudfaster.core.operations import Started
from cloudfaster.core.principal import Principal
from cloudfaster.db.models import ProxmoxVM
from cloudfaster.proxmox.errors import ProxmoxError
from cloudfaster.vms import store
from cloudfaster.vms.errors import app_error, check_unprotected, require_usable
from cloudfaster.vms.params import RebuildParams
from cloudfaster.vms.replay import replay_of
from cloudfaster.vms.runtime import VmRuntime
from cloudfaster.vms.service import (
    VmState,
    get_vm,
    start_operation,
)


async def rebuild_vm(
    rt: VmRuntime, principal: Principal, vmid: int, *, os: str | None, sshkeys: list[str] | None, confirm: str,
    key: str | None,
) -> Started[VmState]:  # fmt: skip
    """Start ``vm.rebuild``: ``confirm`` must repeat the VM's name; protection, the OS and its template on the VM's
    node are checked first."""
    request = {"os": os, "sshkeys": sshkeys, "confirm": confirm}
    replayed = await replay_of(rt, principal, vmid, "vm.rebuild", request, key)
    if replayed is not None:
        return replayed
    state = await get_vm(rt, principal, vmid)
    vm = state.vm
    if confirm != vm.name:
        raise ValidationFailedError(
            f"a rebuild erases VM {vmid}'s disks: set confirm to the VM's name ({vm.name!r}) to go ahead",
            code="confirmation_mismatch",
        )
    check_unprotected(vm, "rebuilt")
    node = require_usable(vm)
    wanted = os or vm.os
    template = rt.proxmox.templates.get(wanted)
    if template is None:
        known = sorted(rt.proxmox.templates)
        raise ValidationFailedError(f"unknown os {wanted!r}; known: {', '.join(known)}", code="unknown_os",
                                    details={"known": known})  # fmt: skip
    try:
        guests = await rt.hv().guests()
    except ProxmoxError as exc:
        raise app_error(exc, node=node) from exc
    if not any(g.template and g.node == node and g.name == template for g in guests):
        raise ConflictError(
            f"node {node} has no template for {wanted}; the VM stays on its node to keep its addresses",
            code="template_not_on_node",
        )

    async def prepare(session: AsyncSession, row: ProxmoxVM, owner: str) -> RebuildParams:
        check_unprotected(row, "rebuilt")
        require_usable(row)
        old_keys = [line for line in row.sshkeys.splitlines() if line]
        keys = sshkeys or old_keys
        params = RebuildParams(vmid=vmid, node=node, os=wanted, template=template, sshkeys=keys, disk=row.disk_gb,
                               old_os=row.os, old_sshkeys=old_keys, since=int(time.time()))  # fmt: skip
        await store.set_status(session, vmid, "rebuilding", os=wanted, sshkeys="\n".join(keys))
        return params

    return await start_operation(rt, principal, vmid, "vm.rebuild", request, key, prepare)


async def set_protection(rt: VmRuntime, principal: Principal, vmid: int, protected: bool) -> VmState:
    """Turn a VM's delete protection on or off (409 while an operation runs on it)."""
    async with rt.db.write() as session:
        owned = await store.get_vm(session, principal, vmid)
        if owned.vm.status == "deleted":
            raise ConflictError(f"VM {vmid} is deleted", code="vm_deleted")
        if owned.vm.status in ("deleting",):
            raise ConflictError(f"VM {vmid} is being deleted", code="operation_in_progress")
        await store.set_protected(session, vmid, protected)
    return await get_vm(rt, principal, vmid)
