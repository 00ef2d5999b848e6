"""The VM service: validation, quotas, reservations and operations behind each route; it returns domain objects
(rows, ``VmState``, ``Started``) and the HTTP layer builds its views from them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cloudfaster.core import operations as ops
from cloudfaster.core import users
from cloudfaster.core.errors import AppError, ConflictError, ValidationFailedError
from cloudfaster.core.operations import Started
from cloudfaster.core.pagination import PageOf
from cloudfaster.core.principal import Principal
from cloudfaster.db.models import Operation, ProxmoxVM
from cloudfaster.proxmox.errors import ProxmoxError, ProxmoxLockedError
from cloudfaster.proxmox.types import VmStatus
from cloudfaster.vms import pool_store, pools, sizes, store
from cloudfaster.vms.allocation import Reservation, reserve_vmid, with_probed_vmid
from cloudfaster.vms.errors import BUSY, app_error, check_unprotected, require_usable
from cloudfaster.vms.guest import Agent, read_agent
from cloudfaster.vms.params import (
    CreateParams,
    DeleteParams,
    PowerAction,
    PowerOptions,
    PowerParams,
    ResizeParams,
    Resources,
    RestoreSource,
    Sizes,
    VmSpec,
)
from cloudfaster.vms.pool_store import Held
from cloudfaster.vms.runtime import VmRuntime

# Config keys never shown to a client.
HIDDEN_CONFIG = ("digest", "cipassword", "sshkeys")


@dataclass(frozen=True, slots=True)
class Live:
    """A VM as Proxmox VE reports it right now."""

    status: VmStatus
    config: dict[str, Any]
    pending: dict[str, str]  # config keys whose change waits for a reboot
    agent: Agent | None = None


@dataclass(frozen=True, slots=True)
class VmState:
    """A VM: our record, its owner, and what a read adds (the operation shown, live data or why it is missing)."""

    vm: ProxmoxVM
    owner: str | None
    operation: Operation | None = None
    live: Live | None = None
    live_error: AppError | None = None
    addresses: list[Held] = field(default_factory=list)  # held from IP pools
    login_user: str | None = None

    @classmethod
    def of(cls, owned: store.OwnedVm, **extra: Any) -> VmState:
        """The state of a row looked up with its owner."""
        return cls(owned.vm, owned.owner, **extra)


def check_os_and_node(rt: VmRuntime, spec: VmSpec) -> None:
    """422 for an OS without a template or a node CloudFaster does not manage."""
    if spec.os not in rt.proxmox.templates:
        raise ValidationFailedError(
            f"unknown os {spec.os!r}; known: {', '.join(sorted(rt.proxmox.templates))}",
            code="unknown_os",
            details={"known": sorted(rt.proxmox.templates)},
        )
    if spec.node is not None and spec.node not in rt.node_names:
        raise ValidationFailedError(
            f"unknown node {spec.node!r}; known: {', '.join(rt.node_names)}",
            code="unknown_node",
            details={"known": rt.node_names},
        )


async def create_vm(
    rt: VmRuntime, principal: Principal, spec: VmSpec, key: str | None, *, restore: RestoreSource | None = None
) -> Started[VmState]:
    """Validate, check quota, reserve a VMID, record the VM as ``creating`` and start ``vm.create`` (from the OS
    template, or from a backup archive with ``restore``)."""
    userid = principal.acting_userid(spec.userid)
    check_os_and_node(rt, spec)
    request = {**spec.model_dump(mode="json"), "userid": userid}
    if restore is not None:
        request["restore"] = restore.model_dump(mode="json")
    body_hash = ops.request_hash(request)
    try:
        attempt = partial(_reserve, rt, principal, userid, spec, request, key, body_hash)
        started = await with_probed_vmid(rt.vmids, rt.hv(), rt.proxmox, attempt)
    except ProxmoxError as exc:
        raise app_error(exc) from exc
    except (ConflictError, IntegrityError) as exc:
        # The same Idempotency-Key raced with us and won: answer with its result.
        if key is None or (isinstance(exc, ConflictError) and exc.code != "operation_in_progress"):
            raise
        async with rt.db.read() as session:
            replay = await ops.find_replay(session, owner_userid=userid, idempotency_key=key, body_hash=body_hash)
        if replay is None:
            raise
        return await _replayed(rt, principal, replay.operation)
    if not started.replayed and started.operation is not None:
        await rt.runner.dispatch(started.operation.id)
    return started


async def _reserve(
    rt: VmRuntime,
    principal: Principal,
    userid: str,
    spec: VmSpec,
    request: dict[str, Any],
    key: str | None,
    body_hash: str,
    reservation: Reservation,
) -> Started[VmState]:
    async with rt.db.write() as session:
        user = await users.get_user(session, principal, userid, lock=True)  # lock first: replays see the winner
        replay = await ops.find_replay(session, owner_userid=userid, idempotency_key=key, body_hash=body_hash)
        if replay is not None:
            return await _replayed(rt, principal, replay.operation)
        sized = await sizes.resolve(session, spec)  # a named size, explicit values overriding it
        await users.check_vm_quota(
            session, user, rt.settings.quotas, vms=1, vcpus=sized.cores, memory_mb=sized.memory, disk_gb=sized.disk
        )
        await store.check_name_free(session, user.id, spec.name)  # under the user's lock: two creates cannot race

        def make_row(vmid: int) -> ProxmoxVM:
            return ProxmoxVM(
                vmid=vmid, user_id=user.id, name=spec.name, active_name=spec.name, os=spec.os, cores=sized.cores,
                memory_mb=sized.memory, disk_gb=sized.disk, sshkeys="\n".join(spec.sshkeys), node=None,
                status="creating",
            )  # fmt: skip

        vm = await reserve_vmid(session, rt.hv(), rt.proxmox, make_row, reservation)  # probed outside: allocation
        await _address_room(rt, session, vm.vmid, spec.node)
        op = ops.new_operation(
            kind="vm.create", target_type="vm", target_id=str(vm.vmid), owner_userid=userid,
            params=CreateParams.model_validate({**request, **sized.model_dump(), "vmid": vm.vmid}), idempotency_key=key,
            body_hash=body_hash,
        )  # fmt: skip
        await ops.flush_operation(session, op, new_target=True)  # its VMID was reserved just above
    return Started(VmState(vm, userid), op)


async def _address_room(rt: VmRuntime, session: AsyncSession, vmid: int, node: str | None) -> None:
    """Before any side effect: an address on the preferred node, else room in the pools of a node the VM may go
    to (409 ``pool_exhausted`` when there is none)."""
    if node is not None:
        try:
            await pools.assign(session, vmid, node)
            return
        except pools.PoolExhaustedError:
            pass  # the preference is only a preference: another node's pool may have room
    await pools.check_room(session, [name for name in rt.node_names if name != node])


async def _replayed(rt: VmRuntime, principal: Principal, op: Operation) -> Started[VmState]:
    async with rt.db.read() as session:
        owned = await store.get_vm(session, principal, int(op.target_id))
    return Started(VmState.of(owned), op, replayed=True)


# Runs in the transaction that records the operation: checks the VM (row, owner), may change it, returns the params.
Prepare = Callable[[AsyncSession, ProxmoxVM, str], Awaitable[BaseModel]]


async def start_operation(
    rt: VmRuntime, principal: Principal, vmid: int, kind: str, request: dict[str, Any], key: str | None,
    prepare: Prepare,
) -> Started[VmState]:  # fmt: skip
    """Record an operation on a VM (one active per VM: 409 otherwise) in the transaction ``prepare`` runs in,
    then dispatch it."""
    async with rt.db.write() as session:
        owned = await store.get_vm(session, principal, vmid)
        if owned.owner is None:  # an orphaned VM is visible to admins only; operations need an owner
            raise ConflictError(f"VM {vmid} has no owner", code="vm_without_owner")
        body_hash = ops.request_hash({"kind": kind, "vmid": vmid, **request})
        replay = await ops.find_replay(session, owner_userid=owned.owner, idempotency_key=key, body_hash=body_hash)
        if replay is not None:
            return Started(VmState.of(owned), replay.operation, replayed=True)
        params = await prepare(session, owned.vm, owned.owner)
        op = ops.new_operation(
            kind=kind, target_type="vm", target_id=str(vmid), owner_userid=owned.owner, params=params,
            idempotency_key=key, body_hash=body_hash,
        )  # fmt: skip
        await ops.flush_operation(session, op)
        state = VmState.of(owned)
    await rt.runner.dispatch(op.id)
    return Started(state, op)


async def update_vm(
    rt: VmRuntime, principal: Principal, vmid: int, wanted: Resources, key: str | None
) -> Started[VmState]:
    """Check grow-only disk and quota, store the new values and start ``vm.resize``."""
    current = await get_vm(rt, principal, vmid)
    row = current.vm
    if wanted.disk is not None and wanted.disk < row.disk_gb:
        raise ValidationFailedError(
            f"disks can only grow: VM {vmid} has {row.disk_gb} GB, {wanted.disk} GB was asked for",
            code="disk_shrink",
            details={"current_gb": row.disk_gb, "requested_gb": wanted.disk},
        )
    new = Resources(
        cores=wanted.cores if wanted.cores != row.cores else None,
        memory=wanted.memory if wanted.memory != row.memory_mb else None,
        disk=wanted.disk if wanted.disk != row.disk_gb else None,
    )
    changes = new.model_dump(exclude_none=True)
    if not changes:
        return Started(current, None)

    async def prepare(session: AsyncSession, vm: ProxmoxVM, owner: str) -> ResizeParams:
        node = require_usable(vm)
        user = await users.get_user(session, principal, owner, lock=True)
        cores = vm.cores if new.cores is None else new.cores
        memory = vm.memory_mb if new.memory is None else new.memory
        disk = vm.disk_gb if new.disk is None else new.disk
        await users.check_vm_quota(
            session, user, rt.settings.quotas, vms=0, vcpus=max(0, cores - vm.cores),
            memory_mb=max(0, memory - vm.memory_mb), disk_gb=max(0, disk - vm.disk_gb),
        )  # fmt: skip
        old = Sizes(cores=vm.cores, memory=vm.memory_mb, disk=vm.disk_gb)
        vm.cores, vm.memory_mb, vm.disk_gb = cores, memory, disk
        return ResizeParams(vmid=vmid, node=node, new=new, old=old)

    return await start_operation(rt, principal, vmid, "vm.resize", {"new": changes}, key, prepare)


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
        ("resume", "running"): "done",
        ("resume", "stopped"): f"VM {vmid} is not running; start it instead",
    }
    return table.get((action, power), "do") or "do"


async def power_vm(
    rt: VmRuntime, principal: Principal, vmid: int, action: PowerAction, options: PowerOptions, key: str | None
) -> Started[VmState]:
    """Start a power action, answer at once when it is already satisfied, 409 when it is impossible."""
    current = await get_vm(rt, principal, vmid)
    node = require_usable(current.vm)
    try:
        live = await rt.hv().status(node, vmid)
    except ProxmoxError as exc:
        raise app_error(exc, node=node) from exc
    if live.lock and live.lock != "suspended":
        raise app_error(ProxmoxLockedError(f"VM is locked ({live.lock})"), node=node)
    decision = _decide(action, live.power, vmid, options.force)
    if decision == "done":
        return Started(replace(current, live=Live(live, {}, {})), None)
    if decision != "do":
        raise ConflictError(decision, code="invalid_power_action", details={"action": action, "power": live.power})

    async def prepare(session: AsyncSession, vm: ProxmoxVM, owner: str) -> PowerParams:
        return PowerParams(vmid=vmid, node=require_usable(vm), action=action, options=options)

    request = {"action": action, "options": options.model_dump()}
    return await start_operation(rt, principal, vmid, "vm.power", request, key, prepare)


async def delete_vm(rt: VmRuntime, principal: Principal, vmid: int, key: str | None) -> Started[VmState]:
    """Mark the VM ``deleting`` and start ``vm.delete``; a deleted VM answers at once."""
    current = await get_vm(rt, principal, vmid)
    if current.vm.status == "deleted":
        return Started(current, None)

    async def prepare(session: AsyncSession, row: ProxmoxVM, owner: str) -> DeleteParams:
        if row.status in BUSY:
            raise ConflictError(f"VM {vmid} is {row.status}", code="operation_in_progress")
        check_unprotected(row, "deleted")
        previous = row.status
        await store.set_status(session, vmid, "deleting")
        return DeleteParams(vmid=vmid, node=row.node, previous_status=previous)

    return await start_operation(rt, principal, vmid, "vm.delete", {}, key, prepare)


async def delete_owned(rt: VmRuntime, principal: Principal, userid: str) -> list[str]:
    """Start deleting each of a user's VMs (for ``user.delete``); the operations to wait for: a VM's running
    operation (a create is waited for, then the VM deleted in the next round) or its deletion just started."""
    async with rt.db.read() as session:
        vmids = await store.live_vmids_of(session, userid)
    waiting = []
    for vmid in vmids:
        async with rt.db.read() as session:
            active = await ops.active_operation(session, "vm", str(vmid))
        if active is None:
            try:
                active = (await delete_vm(rt, principal, vmid, None)).operation
            except ConflictError as exc:
                if exc.code != "operation_in_progress":
                    raise
                continue  # another operation started in between: the next round waits for it
        if active is not None:
            waiting.append(active.id)
    return waiting


async def get_vm(rt: VmRuntime, principal: Principal, vmid: int) -> VmState:
    """Our record of a VM the caller may see (404 otherwise), without live data."""
    async with rt.db.read() as session:
        return VmState.of(await store.get_vm(session, principal, vmid))


async def list_vms(
    rt: VmRuntime,
    principal: Principal,
    *,
    limit: int,
    cursor: str | None,
    userid: str | None,
    node: str | None,
    status: str | None,
) -> PageOf[VmState]:
    """One page of the VMs the caller may see (see ``store.list_vms``)."""
    async with rt.db.read() as session:
        page = await store.list_vms(
            session, principal, limit=limit, cursor=cursor, userid=userid, node=node, status=status
        )
        held = await pool_store.held_by(session, [owned.vm.vmid for owned in page.items])
    return page.map(lambda owned: VmState.of(owned, addresses=held.get(owned.vm.vmid, [])))


async def read_vm(rt: VmRuntime, principal: Principal, vmid: int) -> VmState:
    """Our record, the operation shown (the active one, else the latest), its pool addresses, plus live status,
    config and what the guest agent reports from Proxmox (``live_error`` when it cannot be reached)."""
    async with rt.db.read() as session:
        owned = await store.get_vm(session, principal, vmid)
        op = await store.shown_operation(session, vmid)
        held = (await pool_store.held_by(session, [vmid])).get(vmid, [])
    vm = owned.vm
    state = VmState.of(owned, operation=op, addresses=held, login_user=rt.proxmox.ci_user)
    if not (vm.node and vm.status in ("enabled", "missing", "deleting")):
        return state
    try:
        hv = rt.hv()
        status, config, pending, agent = await asyncio.gather(
            hv.status(vm.node, vmid), hv.config(vm.node, vmid), hv.pending(vm.node, vmid), read_agent(hv, vm.node, vmid)
        )
    except ProxmoxError as exc:
        return replace(state, live_error=app_error(exc, node=vm.node))
    except AppError as exc:
        return replace(state, live_error=exc)
    shown = {k: v for k, v in config.items() if k not in HIDDEN_CONFIG}
    waiting = {str(p["key"]): str(p["pending"]) for p in pending if "pending" in p}
    agent = agent.given(config)
    user = str(config.get("ciuser") or rt.proxmox.ci_user)
    return replace(state, live=Live(status, shown, waiting, agent), login_user=user)


@dataclass(frozen=True, slots=True)
class ConsoleAccess:
    """A console just opened on a VM's node: where its API is, and what PVE answered."""

    node: str
    host: str
    api_port: int
    answer: dict[str, Any]


async def open_console(rt: VmRuntime, principal: Principal, vmid: int, kind: Literal["vnc", "spice"]) -> ConsoleAccess:
    """Open a VNC proxy or a SPICE proxy on an enabled VM (409 otherwise)."""
    vm = (await get_vm(rt, principal, vmid)).vm
    if vm.status != "enabled" or vm.node is None:
        raise ConflictError(f"VM {vmid} is {vm.status}; only an enabled VM has a console", code="vm_not_enabled")
    hv = rt.hv()
    try:
        answer = await (hv.spiceproxy(vm.node, vmid) if kind == "spice" else hv.vncproxy(vm.node, vmid))
    except ProxmoxError as exc:
        raise app_error(exc, node=vm.node) from exc
    host, api_port = hv.api_host(vm.node)
    return ConsoleAccess(vm.node, host, api_port, answer)
