"""VM rows: lookup with tenant checks, status updates and the API view."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cloudfaster.api.schemas.vms import VMRead
from cloudfaster.core.errors import NotFoundError
from cloudfaster.core.pagination import PageOf, decode_cursor, encode_cursor
from cloudfaster.core.principal import Principal
from cloudfaster.db.base import utcnow
from cloudfaster.db.engine import Database
from cloudfaster.db.models import Operation, ProxmoxVM, User
from cloudfaster.proxmox.hypervisor import Hypervisor
from cloudfaster.settings import ProxmoxSettings
from cloudfaster.vms.allocation import reserve_vmid


def with_owner() -> Select[ProxmoxVM, str]:
    """VM rows joined with their owner's userid."""
    return select(ProxmoxVM, User.userid).outerjoin(User, User.id == ProxmoxVM.user_id)


async def get_vm(session: AsyncSession, principal: Principal, vmid: int) -> tuple[ProxmoxVM, str | None]:
    """A VM the caller may see, with its owner; another user's VM is a 404, as if it did not exist."""
    row = (await session.execute(with_owner().where(ProxmoxVM.vmid == vmid))).one_or_none()
    if row is None:
        raise NotFoundError(f"VM {vmid} not found", code="vm_not_found")
    vm, owner = row
    if not principal.can_see(owner):
        raise NotFoundError(f"VM {vmid} not found", code="vm_not_found")
    return vm, owner


async def list_vms(
    session: AsyncSession,
    principal: Principal,
    *,
    limit: int,
    cursor: str | None,
    userid: str | None,
    node: str | None,
    status: str | None,
) -> PageOf[tuple[ProxmoxVM, str | None]]:
    """The caller's VMs (admins: everyone's, filterable), deleted ones only when asked for by status."""
    query = with_owner()
    if not principal.is_admin:
        query = query.where(User.userid == principal.userid)
    elif userid:
        query = query.where(User.userid == userid)
    if node:
        query = query.where(ProxmoxVM.node == node)
    query = query.where(ProxmoxVM.status == status) if status else query.where(ProxmoxVM.status != "deleted")
    if cursor:
        query = query.where(ProxmoxVM.id > decode_cursor(cursor))
    rows: list[tuple[ProxmoxVM, str | None]] = [
        (vm, owner) for vm, owner in (await session.execute(query.order_by(ProxmoxVM.id).limit(limit + 1))).all()
    ]
    more = len(rows) > limit
    rows = rows[:limit]
    return PageOf(items=rows, next_cursor=encode_cursor(rows[-1][0].id) if more and rows else None)


def view(vm: ProxmoxVM, owner: str | None, **extra: Any) -> VMRead:
    """The API view of a VM row."""
    return VMRead(
        vmid=vm.vmid,
        userid=owner,
        name=vm.name,
        os=vm.os,
        cores=vm.cores,
        memory=vm.memory_mb,
        disk=vm.disk_gb,
        sshkeys=[line for line in vm.sshkeys.splitlines() if line],
        node=vm.node,
        status=vm.status,
        status_detail=vm.status_detail,
        created_at=vm.created_at,
        updated_at=vm.updated_at,
        deleted_at=vm.deleted_at,
        **extra,
    )


async def update_vm(db: Database, vmid: int, **values: Any) -> None:
    """Change columns of a VM row in its own transaction."""
    async with db.write() as session:
        await session.execute(update(ProxmoxVM).where(ProxmoxVM.vmid == vmid).values(updated_at=utcnow(), **values))


async def merge_detail(
    db: Database, vmid: int, status: str | None = None, *, node: str | None = "", **detail: Any
) -> None:
    """Merge keys into a VM's ``status_detail`` (None removes a key); optionally set its status and node."""
    async with db.write() as session:
        vm = (await session.execute(select(ProxmoxVM).where(ProxmoxVM.vmid == vmid))).scalar_one()
        merged = {**(vm.status_detail or {}), **detail}
        vm.status_detail = {k: v for k, v in merged.items() if v is not None} or None
        if status is not None:
            vm.status = status
        if node != "":
            vm.node = node
        vm.updated_at = utcnow()


async def latest_operation(session: AsyncSession, vmid: int) -> Operation | None:
    """The newest operation on a VM."""
    return (
        await session.execute(
            select(Operation)
            .where(Operation.target_type == "vm", Operation.target_id == str(vmid))
            .order_by(Operation.created_at.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


async def renumber(
    db: Database, hv: Hypervisor, settings: ProxmoxSettings, old: int, *, leftover: dict[str, Any]
) -> int:
    """Give a VM being created a new VMID; the old row stays (deleted) so its VMID is not handed out again.

    Safe to repeat: a row already moved returns the VMID it was moved to.
    """
    async with db.write() as session:
        row = (await session.execute(select(ProxmoxVM).where(ProxmoxVM.vmid == old))).scalar_one()
        moved_to = (row.status_detail or {}).get("moved_to")
        if moved_to is not None:
            return int(moved_to)

        def copy(vmid: int) -> ProxmoxVM:
            return ProxmoxVM(
                vmid=vmid, user_id=row.user_id, name=row.name, os=row.os, cores=row.cores, memory_mb=row.memory_mb,
                disk_gb=row.disk_gb, sshkeys=row.sshkeys, status="creating", status_detail={"renumbered_from": old},
            )  # fmt: skip

        new = await reserve_vmid(session, hv, settings, copy)
        row.status = "deleted"
        row.deleted_at = utcnow()
        row.status_detail = {**(row.status_detail or {}), "moved_to": new.vmid, "leftover": leftover}
        return new.vmid
