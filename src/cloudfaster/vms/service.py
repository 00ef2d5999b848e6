"""The VM service: validation, quotas, reservations and operations behind each route."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cloudfaster.api.accepted import operation_ref
from cloudfaster.api.schemas.vms import PowerAction, PowerOptions, VMCreate, VMLive, VMRead, VMUpdate
from cloudfaster.core import operations as ops
from cloudfaster.core import users
from cloudfaster.core.errors import AppError, ConflictError, ValidationFailedError
from cloudfaster.core.principal import Principal
from cloudfaster.core.runner.runner import OperationRunner
from cloudfaster.db.models import Operation, ProxmoxVM
from cloudfaster.proxmox.errors import ProxmoxError, ProxmoxLockedError
from cloudfaster.vms import store
from cloudfaster.vms.allocation import reserve_vmid
from cloudfaster.vms.errors import app_error
from cloudfaster.vms.runtime import VmRuntime

BUSY = ("creating", "deleting")


def check_os_and_node(rt: VmRuntime, body: VMCreate) -> None:
    """422 for an OS without a template or a node CloudFaster does not manage."""
    if body.os not in rt.proxmox.templates:
        raise ValidationFailedError(
            f"unknown os {body.os!r}; known: {', '.join(sorted(rt.proxmox.templates))}",
            code="unknown_os",
            details={"known": sorted(rt.proxmox.templates)},
        )
    if body.node is not None and body.node not in rt.node_names:
        raise ValidationFailedError(
            f"unknown node {body.node!r}; known: {', '.join(rt.node_names)}",
            code="unknown_node",
            details={"known": rt.node_names},
        )


async def create_vm(
    rt: VmRuntime, runner: OperationRunner, principal: Principal, body: VMCreate, key: str | None
) -> tuple[VMRead, Operation]:
    """Validate, check quota, reserve a VMID, record the VM as ``creating`` and start ``vm.create``."""
    userid = principal.acting_userid(body.userid)
    check_os_and_node(rt, body)
    payload = body.model_dump(mode="json")
    payload["userid"] = userid
    body_hash = ops.request_hash(payload)
    try:
        vm, op = await _reserve(rt, principal, userid, body, key, body_hash)
    except (ConflictError, IntegrityError) as exc:
        # The same Idempotency-Key raced with us and won: answer with its result.
        if key is None or (isinstance(exc, ConflictError) and exc.code != "operation_in_progress"):
            raise
        async with rt.db.read() as session:
            replay = await ops.find_replay(session, owner_userid=userid, idempotency_key=key, body_hash=body_hash)
        if replay is None:
            raise
        return await _replayed(rt, principal, replay.operation)
    if isinstance(vm, VMRead):
        return vm, op
    await runner.dispatch(op.id)
    return store.view(vm, userid), op


async def _reserve(
    rt: VmRuntime, principal: Principal, userid: str, body: VMCreate, key: str | None, body_hash: str
) -> tuple[ProxmoxVM | VMRead, Operation]:
    hv = rt.hv()
    async with rt.db.write() as session:
        user = await users.get_user(session, principal, userid, lock=True)  # lock first: replays see the winner
        replay = await ops.find_replay(session, owner_userid=userid, idempotency_key=key, body_hash=body_hash)
        if replay is not None:
            view, op = await _replayed(rt, principal, replay.operation)
            return view, op
        await users.check_vm_quota(
            session, user, rt.settings.quotas, vms=1, vcpus=body.cores, memory_mb=body.memory, disk_gb=body.disk
        )

        def make_row(vmid: int) -> ProxmoxVM:
            return ProxmoxVM(
                vmid=vmid, user_id=user.id, name=body.name, os=body.os, cores=body.cores, memory_mb=body.memory,
                disk_gb=body.disk, sshkeys="\n".join(body.sshkeys), node=None, status="creating",
            )  # fmt: skip

        try:
            vm = await reserve_vmid(session, hv, rt.proxmox, make_row)
        except ProxmoxError as exc:
            raise app_error(exc) from exc
        params: dict[str, Any] = {**body.model_dump(mode="json"), "vmid": vm.vmid, "userid": userid}
        op = ops.new_operation(
            kind="vm.create", target_type="vm", target_id=str(vm.vmid), owner_userid=userid, params=params,
            idempotency_key=key, body_hash=body_hash,
        )  # fmt: skip
        await ops.flush_operation(session, op)
    return vm, op


async def _replayed(rt: VmRuntime, principal: Principal, op: Operation) -> tuple[VMRead, Operation]:
    async with rt.db.read() as session:
        vm, owner = await store.get_vm(session, principal, int(op.target_id))
    return store.view(vm, owner), op


Prepare = Callable[[AsyncSession, ProxmoxVM, str], Awaitable[dict[str, Any]]]


async def _start_operation(
    rt: VmRuntime,
    runner: OperationRunner,
    principal: Principal,
    vmid: int,
    kind: str,
    params: dict[str, Any],
    key: str | None,
    *,
    prepare: Prepare | None = None,
) -> tuple[VMRead, Operation]:
    """Record an operation on a VM (one active per VM: 409 otherwise), then dispatch it.

    ``prepare`` runs in the same transaction, checks the VM and may change its row; it returns extra params.
    """
    async with rt.db.write() as session:
        vm, owner = await store.get_vm(session, principal, vmid)
        assert owner is not None
        body_hash = ops.request_hash({"kind": kind, "vmid": vmid, **params})
        replay = await ops.find_replay(session, owner_userid=owner, idempotency_key=key, body_hash=body_hash)
        if replay is not None:
            return store.view(vm, owner), replay.operation
        extra = await prepare(session, vm, owner) if prepare is not None else {}
        op = ops.new_operation(
            kind=kind, target_type="vm", target_id=str(vmid), owner_userid=owner,
            params={"vmid": vmid, "node": vm.node, **params, **extra}, idempotency_key=key, body_hash=body_hash,
        )  # fmt: skip
        await ops.flush_operation(session, op)
        view = store.view(vm, owner)
    await runner.dispatch(op.id)
    return view, op


def _require_usable(vm: ProxmoxVM) -> str:
    if vm.status in BUSY:
        raise ConflictError(f"VM {vm.vmid} is {vm.status}", code="operation_in_progress")
    if vm.status != "enabled" or vm.node is None:
        raise ConflictError(f"VM {vm.vmid} is {vm.status}; only an enabled VM can do this", code="vm_not_enabled")
    return vm.node


async def update_vm(
    rt: VmRuntime, runner: OperationRunner, principal: Principal, vmid: int, body: VMUpdate, key: str | None
) -> tuple[VMRead, Operation | None]:
    """Check grow-only disk and quota, store the new values and start ``vm.resize``."""
    async with rt.db.read() as session:
        current, _ = await store.get_vm(session, principal, vmid)
    if body.disk is not None and body.disk < current.disk_gb:
        raise ValidationFailedError(
            f"disks can only grow: VM {vmid} has {current.disk_gb} GB, {body.disk} GB was asked for",
            code="disk_shrink",
            details={"current_gb": current.disk_gb, "requested_gb": body.disk},
        )
    changes = {
        name: value
        for name, value, old in (
            ("cores", body.cores, current.cores),
            ("memory", body.memory, current.memory_mb),
            ("disk", body.disk, current.disk_gb),
        )
        if value is not None and value != old
    }
    if not changes:
        async with rt.db.read() as session:
            vm, owner = await store.get_vm(session, principal, vmid)
        return store.view(vm, owner), None

    async def prepare(session: AsyncSession, vm: ProxmoxVM, owner: str) -> dict[str, Any]:
        _require_usable(vm)
        user = await users.get_user(session, principal, owner, lock=True)
        await users.check_vm_quota(
            session, user, rt.settings.quotas, vms=0,
            vcpus=max(0, changes.get("cores", vm.cores) - vm.cores),
            memory_mb=max(0, changes.get("memory", vm.memory_mb) - vm.memory_mb),
            disk_gb=max(0, changes.get("disk", vm.disk_gb) - vm.disk_gb),
        )  # fmt: skip
        old = {"cores": vm.cores, "memory": vm.memory_mb, "disk": vm.disk_gb}
        vm.cores = changes.get("cores", vm.cores)
        vm.memory_mb = changes.get("memory", vm.memory_mb)
        vm.disk_gb = changes.get("disk", vm.disk_gb)
        return {"old": old}

    return await _start_operation(rt, runner, principal, vmid, "vm.resize", {"new": changes}, key, prepare=prepare)


# What each action needs, given the live power state: "do", "done" (already satisfied) or an error message.
def _decide(action: PowerAction, power: str, vmid: int, force: bool) -> str:
    table: dict[tuple[str, str], str] = {
        ("start", "running"): "done",
        ("start", "paused"): f"VM {vmid} is paused; resume it instead",
        ("stop", "stopped"): "done",
        ("shutdown", "stopped"): "done",
        ("shutdown", "paused"): "" if force else f"VM {vmid} is paused and cannot shut down; use force or stop",
        ("reboot", "stopped"): f"VM {vmid} is not running; start it instead",
        ("reboot", "paused"): f"VM {vmid} is paused; resume it first",
        ("suspend", "paused"): "done",
        ("suspend", "stopped"): f"VM {vmid} is not running",
        ("resume", "running"): f"VM {vmid} is running, not paused",
        ("resume", "stopped"): f"VM {vmid} is not running; start it instead",
    }
    return table.get((action, power), "do") or "do"


async def power_vm(
    rt: VmRuntime,
    runner: OperationRunner,
    principal: Principal,
    vmid: int,
    action: PowerAction,
    options: PowerOptions,
    key: str | None,
) -> tuple[VMRead, Operation | None]:
    """Start a power action, answer at once when it is already satisfied, 409 when it is impossible."""
    async with rt.db.read() as session:
        vm, owner = await store.get_vm(session, principal, vmid)
    node = _require_usable(vm)
    try:
        live = await rt.hv().status(node, vmid)
    except ProxmoxError as exc:
        raise app_error(exc, node=node) from exc
    if live.lock and live.lock != "suspended":
        raise app_error(ProxmoxLockedError(f"VM is locked ({live.lock})"), node=node)
    decision = _decide(action, live.power, vmid, options.force)
    if decision == "done":
        return store.view(vm, owner, live=_live(live, {}, {})), None
    if decision != "do":
        raise ConflictError(decision, code="invalid_power_action", details={"action": action, "power": live.power})
    params = {"action": action, "options": options.model_dump()}
    return await _start_operation(rt, runner, principal, vmid, "vm.power", params, key)


async def delete_vm(
    rt: VmRuntime, runner: OperationRunner, principal: Principal, vmid: int, key: str | None
) -> tuple[VMRead, Operation | None]:
    """Mark the VM ``deleting`` and start ``vm.delete``; a deleted VM answers at once."""
    async with rt.db.read() as session:
        vm, owner = await store.get_vm(session, principal, vmid)
    if vm.status == "deleted":
        return store.view(vm, owner), None

    async def prepare(session: AsyncSession, row: ProxmoxVM, owner: str) -> dict[str, Any]:
        if row.status in BUSY:
            raise ConflictError(f"VM {vmid} is {row.status}", code="operation_in_progress")
        previous = row.status
        row.status = "deleting"
        return {"previous_status": previous}

    return await _start_operation(rt, runner, principal, vmid, "vm.delete", {}, key, prepare=prepare)


async def read_vm(rt: VmRuntime, principal: Principal, vmid: int) -> VMRead:
    """Our record plus live status and config from Proxmox (``live_error`` when it cannot be reached)."""
    async with rt.db.read() as session:
        vm, owner = await store.get_vm(session, principal, vmid)
        op = await store.latest_operation(session, vmid)
    extra: dict[str, Any] = {"operation": operation_ref(op) if op else None}
    if vm.node and vm.status in ("enabled", "missing", "deleting"):
        try:
            hv = rt.hv()
            status, config, pending = await asyncio.gather(
                hv.status(vm.node, vmid), hv.config(vm.node, vmid), hv.pending(vm.node, vmid)
            )
            extra["live"] = _live(status, config, {str(p["key"]): str(p["pending"]) for p in pending if "pending" in p})
        except (ProxmoxError, AppError) as exc:
            error = app_error(exc, node=vm.node) if isinstance(exc, ProxmoxError) else exc
            extra["live_error"] = {"code": error.code, "message": error.message}
    return store.view(vm, owner, **extra)


def _live(status: Any, config: dict[str, Any], pending: dict[str, str]) -> VMLive:
    shown = {k: v for k, v in config.items() if k not in ("digest", "cipassword", "sshkeys")}
    return VMLive(
        power=status.power,
        qmpstatus=status.qmpstatus,
        uptime_s=status.uptime_s,
        cpus=status.cpus,
        cpu_usage=status.cpu_usage,
        memory_bytes=status.memory_bytes,
        memory_used_bytes=status.memory_used_bytes,
        disk_bytes=status.disk_bytes,
        lock=status.lock,
        pending=pending,
        config=shown,
    )
