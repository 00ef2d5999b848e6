"""A VM's second day: snapshots, backups and their schedule, restore, rebuild, delete protection, usage history.

Mounted before ``routes.vms``: its ``POST /vm/{vmid}/{action}`` would otherwise take ``/vm/{vmid}/rebuild``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from fastapi.responses import JSONResponse

from cloudfaster.api.accepted import IdempotencyKey, WaitQuery, accepted, operation_ref
from cloudfaster.api.deps import AdminDep, CursorQuery, LimitQuery, PrincipalDep, VmsDep
from cloudfaster.api.routes.vms import VmidPath, answer
from cloudfaster.api.schemas.core import Page
from cloudfaster.api.schemas.daytwo import (
    BackupRead,
    ProtectionUpdate,
    RebuildRequest,
    RestoreRequest,
    RollbackRequest,
    ScheduleRead,
    ScheduleUpdate,
    SnapshotCreate,
    SnapshotList,
    UsageRead,
)
from cloudfaster.api.schemas.vms import NodeName, VMRead
from cloudfaster.core import operations as ops
from cloudfaster.core.errors import NotFoundError
from cloudfaster.vms import backups, metrics, rebuild, schedules, snapshots
from cloudfaster.vms.params import VmSpec

router = APIRouter(tags=["vm day two"])
SnapName = Annotated[str, Path(min_length=1, max_length=64)]
BackupId = Annotated[int, Path(ge=1, le=2**31 - 1)]
TimeframeQuery = Annotated[metrics.Timeframe, Query(description="hour, day, week or month")]
DONE: dict[int | str, dict[str, Any]] = {200: {"model": VMRead}}


# ---------------------------------------------------------------------------------------------------- snapshots


@router.get("/vm/{vmid}/snapshots", response_model=SnapshotList)
async def list_snapshots(vmid: VmidPath, rt: VmsDep, principal: PrincipalDep) -> SnapshotList:
    """The VM's snapshots, with the parent of each and of the current state."""
    return SnapshotList.of(vmid, await snapshots.list_snapshots(rt, principal, vmid))


@router.post("/vm/{vmid}/snapshots", response_model=VMRead, status_code=202, responses=DONE)
async def take_snapshot(
    vmid: VmidPath, body: SnapshotCreate, rt: VmsDep, principal: PrincipalDep, key: IdempotencyKey = None,
    wait: WaitQuery = 0,
) -> JSONResponse:  # fmt: skip
    """Take a snapshot (``vm.snapshot``); the per-VM limit of the user's quota applies."""
    started = await snapshots.take_snapshot(rt, principal, vmid, body.name, body.description, body.vmstate, key)
    return await answer(rt, principal, started, wait)


@router.post("/vm/{vmid}/snapshots/{name}/rollback", response_model=VMRead, status_code=202, responses=DONE)
async def rollback(
    vmid: VmidPath, name: SnapName, rt: VmsDep, principal: PrincipalDep, body: RollbackRequest | None = None,
    key: IdempotencyKey = None, wait: WaitQuery = 0,
) -> JSONResponse:  # fmt: skip
    """Roll back to a snapshot; without RAM state the VM is stopped afterwards unless ``start``."""
    started = await snapshots.rollback(rt, principal, vmid, name, (body or RollbackRequest()).start, key)
    return await answer(rt, principal, started, wait)


@router.delete("/vm/{vmid}/snapshots/{name}", response_model=VMRead, status_code=202, responses=DONE)
async def delete_snapshot(
    vmid: VmidPath, name: SnapName, rt: VmsDep, principal: PrincipalDep, key: IdempotencyKey = None,
    wait: WaitQuery = 0,
) -> JSONResponse:  # fmt: skip
    """Delete a snapshot; the snapshots (and the current state) that descend from it move up to its parent."""
    return await answer(rt, principal, await snapshots.delete_snapshot(rt, principal, vmid, name, key), wait)


# ---------------------------------------------------------------------------------------------------- backups


@router.post("/vm/{vmid}/backups", response_model=VMRead, status_code=202, responses=DONE)
async def take_backup(
    vmid: VmidPath, rt: VmsDep, principal: PrincipalDep, key: IdempotencyKey = None, wait: WaitQuery = 0
) -> JSONResponse:
    """Back up the VM now (vzdump to the admin's backup storage); counts against the user's backup quota."""
    return await answer(rt, principal, await backups.take_backup(rt, principal, vmid, key), wait)


@router.get("/vm/{vmid}/backups", response_model=Page[BackupRead])
async def list_vm_backups(
    vmid: VmidPath, rt: VmsDep, principal: PrincipalDep, limit: LimitQuery = 50, cursor: CursorQuery = None
) -> Page[BackupRead]:
    """The VM's backups with size and time."""
    page = await backups.list_backups(rt, principal, vmid=vmid, limit=limit, cursor=cursor)
    return Page(items=[BackupRead.of(b) for b in page.items], next_cursor=page.next_cursor)


@router.get("/backups", response_model=Page[BackupRead])
async def list_backups(
    rt: VmsDep, principal: PrincipalDep, limit: LimitQuery = 50, cursor: CursorQuery = None
) -> Page[BackupRead]:
    """The caller's backups (admins: everyone's), also of VMs deleted since."""
    page = await backups.list_backups(rt, principal, vmid=None, limit=limit, cursor=cursor)
    return Page(items=[BackupRead.of(b) for b in page.items], next_cursor=page.next_cursor)


@router.get("/backups/{backup_id}", response_model=BackupRead)
async def get_backup(backup_id: BackupId, rt: VmsDep, principal: PrincipalDep) -> BackupRead:
    """One backup and its latest operation."""
    return BackupRead.of(await backups.get_backup(rt, principal, backup_id))


@router.delete("/backups/{backup_id}", response_model=BackupRead, status_code=202,
               responses={200: {"model": BackupRead}})  # fmt: skip
async def delete_backup(
    backup_id: BackupId, rt: VmsDep, principal: PrincipalDep, key: IdempotencyKey = None, wait: WaitQuery = 0
) -> JSONResponse:
    """Delete the backup's archive; the record stays, ``deleted``."""
    started = await backups.delete_backup(rt, principal, backup_id, key)
    op = started.operation
    if op is not None and wait > 0:
        op = await ops.wait_for_end(rt.db, op.id, wait)
    state = await backups.get_backup(rt, principal, backup_id) if op is None or wait > 0 else started.resource
    view = BackupRead.of(state)
    if op is not None:
        view.operation = operation_ref(op)
    return accepted(view, op)


@router.post("/backups/{backup_id}/restore", response_model=VMRead, status_code=202, responses=DONE)
async def restore_backup(
    backup_id: BackupId, body: RestoreRequest, rt: VmsDep, principal: PrincipalDep, key: IdempotencyKey = None,
    wait: WaitQuery = 0,
) -> JSONResponse:  # fmt: skip
    """Restore over the VM it was taken of (``same``), or into a new VM of the same user (``new``: a new VMID,
    quota, placement and addresses as for any create)."""
    spec = None
    if body.target == "new":
        current = await backups.get_backup(rt, principal, backup_id)
        backup = current.backup
        keys = body.sshkeys or [line for line in backup.sshkeys.splitlines() if line]
        spec = VmSpec(userid=current.owner, name=body.name or backup.name, os=backup.os, cores=backup.cores,
                      memory=backup.memory_mb, disk=backup.disk_gb, sshkeys=keys)  # fmt: skip
    started = await backups.restore_backup(rt, principal, backup_id, body.target, spec, key)
    return await answer(rt, principal, started, wait)


@router.get("/vm/{vmid}/backup-schedule", response_model=ScheduleRead)
async def get_schedule(vmid: VmidPath, rt: VmsDep, principal: PrincipalDep) -> ScheduleRead:
    """The VM's backup schedule (404 when it has none)."""
    row = await schedules.get_schedule(rt, principal, vmid)
    if row is None:
        raise NotFoundError(f"VM {vmid} has no backup schedule", code="schedule_not_found")
    return ScheduleRead.of(row)


@router.put("/vm/{vmid}/backup-schedule", response_model=ScheduleRead)
async def put_schedule(vmid: VmidPath, body: ScheduleUpdate, rt: VmsDep, principal: PrincipalDep) -> ScheduleRead:
    """Set the VM's backup schedule (the workers start each due backup once); replaces an earlier one."""
    return ScheduleRead.of(await schedules.set_schedule(rt, principal, vmid, body.spec()))


@router.delete("/vm/{vmid}/backup-schedule", status_code=204)
async def delete_schedule(vmid: VmidPath, rt: VmsDep, principal: PrincipalDep) -> Response:
    """Stop scheduled backups of the VM; the backups taken stay."""
    await schedules.delete_schedule(rt, principal, vmid)
    return Response(status_code=204)


# ------------------------------------------------------------------------------------------ rebuild, protection


@router.post("/vm/{vmid}/rebuild", response_model=VMRead, status_code=202, responses=DONE)
async def rebuild_vm(
    vmid: VmidPath, body: RebuildRequest, rt: VmsDep, principal: PrincipalDep, key: IdempotencyKey = None,
    wait: WaitQuery = 0,
) -> JSONResponse:  # fmt: skip
    """Reinstall from the OS template (the same or another), keeping VMID, owner, node and addresses; ``confirm``
    must be the VM's name. 409 ``vm_protected`` while protection is on."""
    started = await rebuild.rebuild_vm(
        rt, principal, vmid, os=body.os, sshkeys=body.sshkeys, confirm=body.confirm, key=key
    )
    return await answer(rt, principal, started, wait)


@router.put("/vm/{vmid}/protection", response_model=VMRead)
async def set_protection(vmid: VmidPath, body: ProtectionUpdate, rt: VmsDep, principal: PrincipalDep) -> VMRead:
    """Turn delete protection on or off: while on, delete and rebuild are 409 ``vm_protected``."""
    return VMRead.of(await rebuild.set_protection(rt, principal, vmid, body.protected))


# ---------------------------------------------------------------------------------------------------- usage


@router.get("/vm/{vmid}/metrics", response_model=UsageRead)
async def vm_metrics(
    vmid: VmidPath, rt: VmsDep, principal: PrincipalDep, timeframe: TimeframeQuery = "hour"
) -> UsageRead:
    """CPU, memory, network in/out and disk read/write of the VM over the timeframe (PVE's RRD data)."""
    return UsageRead.of(await metrics.vm_usage(rt, principal, vmid, timeframe))


@router.get("/nodes/{node}/metrics", response_model=UsageRead)
async def node_metrics(
    node: Annotated[NodeName, Path()], rt: VmsDep, principal: AdminDep, timeframe: TimeframeQuery = "hour"
) -> UsageRead:
    """A node's CPU, load, memory, network and I/O wait over the timeframe (admins)."""
    return UsageRead.of(await metrics.node_usage(rt, principal, node, timeframe))
