"""VM rows: lookup with tenant checks, the one writer of a VM's status, details, renumbering, listing, and the
one-time console tickets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cloudfaster.core import operations as ops
from cloudfaster.core.errors import ConflictError, NotFoundError
from cloudfaster.core.lifecycle import StatusTransitionError
from cloudfaster.core.pagination import PageOf, paginate
from cloudfaster.core.principal import Principal
from cloudfaster.db.base import utcnow
from cloudfaster.db.engine import Database
from cloudfaster.db.models import ConsoleTicket, Operation, ProxmoxVM, User, VmSize
from cloudfaster.proxmox.hypervisor import Hypervisor
from cloudfaster.settings import ProxmoxSettings
from cloudfaster.vms import pool_store
from cloudfaster.vms.allocation import reserve_vmid
from cloudfaster.vms.status import VM_LIFECYCLE

# Statuses a reconcile pass compares with the cluster.
WATCHED = ("enabled", "missing")


@dataclass(frozen=True, slots=True)
class OwnedVm:
    """A VM row and its owner's userid (None once the owner is gone)."""

    vm: ProxmoxVM
    owner: str | None


def with_owner() -> Select[ProxmoxVM, str]:
    """VM rows joined with their owner's userid."""
    return select(ProxmoxVM, User.userid).outerjoin(User, User.id == ProxmoxVM.user_id)


async def get_vm(session: AsyncSession, principal: Principal, vmid: int) -> OwnedVm:
    """A VM the caller may see, with its owner; another user's VM is a 404, as if it did not exist."""
    row = (await session.execute(with_owner().where(ProxmoxVM.vmid == vmid))).one_or_none()
    if row is None or not principal.can_see(row[1]):
        raise NotFoundError(f"VM {vmid} not found", code="vm_not_found")
    return OwnedVm(row[0], row[1])


async def list_vms(
    session: AsyncSession,
    principal: Principal,
    *,
    limit: int,
    cursor: str | None,
    userid: str | None,
    node: str | None,
    status: str | None,
) -> PageOf[OwnedVm]:
    """The caller's VMs (admins: everyone's, filterable), deleted ones only when asked for by status."""
    query = with_owner()
    if not principal.is_admin:
        query = query.where(User.userid == principal.userid)
    elif userid:
        query = query.where(User.userid == userid)
    if node:
        query = query.where(ProxmoxVM.node == node)
    query = query.where(ProxmoxVM.status == status) if status else query.where(ProxmoxVM.status != "deleted")
    page = await paginate(session, query, [ProxmoxVM.id], limit=limit, cursor=cursor, scalars=False)
    return page.map(lambda row: OwnedVm(row[0], row[1]))


async def live_vmids_of(session: AsyncSession, userid: str) -> list[int]:
    """The VMIDs of a user's VMs that are not deleted."""
    query = with_owner().where(User.userid == userid, ProxmoxVM.status != "deleted").order_by(ProxmoxVM.id)
    return [row[0].vmid for row in await session.execute(query)]


NAME_TAKEN = select(ProxmoxVM.id).where(
    ProxmoxVM.user_id == bindparam("user_id"), ProxmoxVM.active_name == bindparam("name")
)


async def check_name_free(session: AsyncSession, user_id: int, name: str) -> None:
    """409 ``name_taken`` when the user already has a VM (not deleted) of that name."""
    if (await session.execute(NAME_TAKEN, {"user_id": user_id, "name": name})).first() is not None:
        raise ConflictError(f"you already have a VM named {name!r}", code="name_taken", details={"name": name})


async def watched(db: Database) -> list[ProxmoxVM]:
    """The VMs a reconcile pass compares with the cluster."""
    async with db.read() as session:
        return list((await session.execute(select(ProxmoxVM).where(ProxmoxVM.status.in_(WATCHED)))).scalars())


async def with_leftovers(db: Database) -> list[ProxmoxVM]:
    """Deleted (renumbered) VMs whose failover left a partial VM on an unreachable node."""
    async with db.read() as session:
        rows = (await session.execute(select(ProxmoxVM).where(ProxmoxVM.status == "deleted"))).scalars()
        return [vm for vm in rows if (vm.status_detail or {}).get("leftover")]


async def set_status(session: AsyncSession, vmid: int, new: str, **columns: Any) -> None:
    """Move a VM to status ``new`` (and set ``columns``): the only writer of ``ProxmoxVM.status``.

    The transition is checked against ``VM_LIFECYCLE`` in the UPDATE itself, so a writer that lost a race sees
    ``StatusTransitionError`` instead of overwriting the winner's status.
    """
    if new == "deleted":
        columns = {**columns, "active_name": None}  # the name is free again
    result = await session.execute(
        update(ProxmoxVM)
        .where(ProxmoxVM.vmid == vmid, ProxmoxVM.status.in_(VM_LIFECYCLE.sources(new)))
        .values(status=new, updated_at=utcnow(), **columns)
        .execution_options(synchronize_session="fetch")
    )
    if result.rowcount == 1:  # type: ignore[attr-defined]
        return
    current = (await session.execute(select(ProxmoxVM.status).where(ProxmoxVM.vmid == vmid))).scalar_one_or_none()
    if current is None:
        raise NotFoundError(f"VM {vmid} not found", code="vm_not_found")
    VM_LIFECYCLE.check(current, new)
    raise StatusTransitionError(f"VM {vmid} changed status while it was being set to {new!r}")


async def set_resources(db: Database, vmid: int, *, cores: int, memory_mb: int, disk_gb: int) -> None:
    """Set a VM's recorded sizes in their own transaction."""
    async with db.write() as session:
        await session.execute(
            update(ProxmoxVM)
            .where(ProxmoxVM.vmid == vmid)
            .values(cores=cores, memory_mb=memory_mb, disk_gb=disk_gb, updated_at=utcnow())
        )


async def record_config_sizes(db: Database, vmid: int, config: dict[str, Any], disk_bytes: int) -> None:
    """Record the cores, memory and boot disk size a VM's PVE config holds now (after a rollback or a restore)."""
    cores = int(config.get("cores", 1)) * int(config.get("sockets", 1))
    memory = int(str(config.get("memory", "512")).removeprefix("current=").split(",")[0])
    await set_resources(db, vmid, cores=cores, memory_mb=memory, disk_gb=-(-disk_bytes // 1024**3))


async def restore_os(db: Database, vmid: int, *, os: str, sshkeys: list[str]) -> None:
    """Put back the OS and SSH keys a rebuild that did not get as far as the destroy had recorded."""
    async with db.write() as session:
        await session.execute(
            update(ProxmoxVM)
            .where(ProxmoxVM.vmid == vmid)
            .values(os=os, sshkeys="\n".join(sshkeys), updated_at=utcnow())
        )


async def set_node(db: Database, vmid: int, node: str) -> None:
    """Record the node a VM is on now (it moved outside CloudFaster)."""
    async with db.write() as session:
        await session.execute(update(ProxmoxVM).where(ProxmoxVM.vmid == vmid).values(node=node, updated_at=utcnow()))


async def reserved_memory(session: AsyncSession, *, besides: set[int]) -> dict[str, int]:
    """Memory (bytes) per node of the VMs being created there (placed, not finished), those ``besides`` left out."""
    query = (
        select(ProxmoxVM.node, func.sum(ProxmoxVM.memory_mb))
        .where(ProxmoxVM.status == "creating", ProxmoxVM.node.is_not(None), ProxmoxVM.vmid.not_in(besides))
        .group_by(ProxmoxVM.node)
    )
    return {str(node): int(mb) * 1024**2 for node, mb in await session.execute(query)}


async def place(session: AsyncSession, vmid: int, node: str) -> None:
    """Record the node a VM being created goes to (its memory counts as reserved there until it is done)."""
    await session.execute(update(ProxmoxVM).where(ProxmoxVM.vmid == vmid).values(node=node, updated_at=utcnow()))


async def merge_detail(
    db: Database, vmid: int, status: str | None = None, *, node: str | None = "", **detail: Any
) -> None:
    """Merge keys into a VM's ``status_detail`` (None removes a key); optionally set its status and node."""
    async with db.write() as session:
        await merge_detail_in(session, vmid, status, node=node, **detail)


async def merge_detail_in(
    session: AsyncSession, vmid: int, status: str | None = None, *, node: str | None = "", **detail: Any
) -> None:
    """``merge_detail`` in the caller's transaction."""
    if status is not None:
        await set_status(session, vmid, status)
    vm = (await session.execute(select(ProxmoxVM).where(ProxmoxVM.vmid == vmid))).scalar_one()
    merged = {**(vm.status_detail or {}), **detail}
    vm.status_detail = {k: v for k, v in merged.items() if v is not None} or None
    if node != "":
        vm.node = node
    vm.updated_at = utcnow()


async def shown_operation(session: AsyncSession, vmid: int) -> Operation | None:
    """The operation a VM's GET shows: its active one (pending or running) if any, otherwise its latest."""
    return await ops.shown_operation(session, "vm", str(vmid))


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
                vmid=vmid, user_id=row.user_id, name=row.name, active_name=row.name, os=row.os, cores=row.cores,
                memory_mb=row.memory_mb, disk_gb=row.disk_gb, sshkeys=row.sshkeys, status="creating",
                status_detail={"renumbered_from": old},
            )  # fmt: skip

        row.active_name = None  # the copy takes the name over
        await session.flush()

        new = await reserve_vmid(session, hv, settings, copy)
        detail = {**(row.status_detail or {}), "moved_to": new.vmid, "leftover": leftover}
        await set_status(session, old, "deleted", deleted_at=utcnow(), status_detail=detail)
        return new.vmid


async def mark_deleted(db: Database, vmid: int) -> None:
    """Record a VM as destroyed: status ``deleted``, when, no power state or pending change any more, and its
    pool addresses given back in the same transaction (the destroy is confirmed by now)."""
    async with db.write() as session:
        await set_status(session, vmid, "deleted", deleted_at=utcnow())
        await pool_store.release(session, vmid)
    await merge_detail(db, vmid, power=None, pending_reboot=None)


async def clear_leftover(db: Database, vmid: int) -> None:
    """The partial VM a failover left under ``vmid`` is gone: forget it and give back the addresses it held."""
    await merge_detail(db, vmid, leftover=None, leftover_cleared=True)
    async with db.write() as session:
        await pool_store.release(session, vmid)


# ---------------------------------------------------------------------------------------------- console tickets


async def add_console_ticket(
    session: AsyncSession, token_hash: str, vmid: int, user_id: int | None, kind: str, expires_at: datetime
) -> None:
    """Store a console token's hash; tickets that expired an hour ago go at the same time."""
    await session.execute(delete(ConsoleTicket).where(ConsoleTicket.expires_at < utcnow() - timedelta(hours=1)))
    session.add(ConsoleTicket(token_hash=token_hash, vmid=vmid, user_id=user_id, kind=kind, expires_at=expires_at))


async def use_console_ticket(session: AsyncSession, token_hash: str) -> tuple[ConsoleTicket | None, bool]:
    """Mark a ticket used if it is unused and unexpired (one compare-and-set); the ticket and whether it was."""
    now = utcnow()
    marked = await session.execute(
        update(ConsoleTicket)
        .where(ConsoleTicket.token_hash == token_hash, ConsoleTicket.used_at.is_(None), ConsoleTicket.expires_at > now)
        .values(used_at=now)
    )
    ticket = (await session.execute(select(ConsoleTicket).where(ConsoleTicket.token_hash == token_hash))).scalar()
    return ticket, bool(getattr(marked, "rowcount", 0))


async def vm_by_vmid(session: AsyncSession, vmid: int) -> ProxmoxVM | None:
    """The VM row with this VMID, if any (no tenant check: the caller has one)."""
    return (await session.execute(select(ProxmoxVM).where(ProxmoxVM.vmid == vmid))).scalar()


# ---------------------------------------------------------------------------- named sizes (vm_sizes)


async def all_sizes(session: AsyncSession) -> list[VmSize]:
    """Every named size, by name."""
    return list((await session.execute(select(VmSize).order_by(VmSize.name))).scalars())


async def find_size(session: AsyncSession, name: str) -> VmSize | None:
    """The size with this name, or None."""
    return await session.get(VmSize, name)


async def count_sizes(session: AsyncSession) -> int:
    """How many sizes are defined."""
    return int((await session.execute(select(func.count()).select_from(VmSize))).scalar_one())


async def put_size(
    session: AsyncSession, name: str, *, cores: int, memory_mb: int, disk_gb: int, description: str
) -> tuple[VmSize, bool]:
    """Create or replace a size; True when it is new."""
    row = await session.get(VmSize, name, with_for_update=True)
    created = row is None
    if row is None:
        row = VmSize(name=name)
        session.add(row)
    row.cores, row.memory_mb, row.disk_gb, row.description = cores, memory_mb, disk_gb, description
    await session.flush()
    return row, created


async def insert_sizes(session: AsyncSession, sizes: list[VmSize]) -> None:
    """Add new sizes; IntegrityError when one of the names exists already."""
    session.add_all(sizes)
    await session.flush()


async def remove_size(session: AsyncSession, name: str) -> bool:
    """Delete a size; False when there was none."""
    row = await session.get(VmSize, name, with_for_update=True)
    if row is None:
        return False
    await session.delete(row)
    return True


async def set_protected(session: AsyncSession, vmid: int, protected: bool) -> None:
    """Set or clear a VM's delete protection."""
    await session.execute(
        update(ProxmoxVM).where(ProxmoxVM.vmid == vmid).values(protected=protected, updated_at=utcnow())
    )
