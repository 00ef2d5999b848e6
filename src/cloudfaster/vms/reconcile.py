"""The reconcile pass: mark VMs that disappeared, moved or changed outside CloudFaster.

One pass per call; the VM feature runs it periodically in worker processes, and admins through the API.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from cloudfaster.core import operations as ops
from cloudfaster.core.lifecycle import StatusTransitionError
from cloudfaster.db.models import ProxmoxVM
from cloudfaster.proxmox.types import GuestInfo
from cloudfaster.vms import store
from cloudfaster.vms.kinds.tasks import is_ours, stop_and_destroy
from cloudfaster.vms.runtime import VmRuntime

log = logging.getLogger("cloudfaster.vms.reconcile")
MIB = 1024**2


@dataclass
class VmDrift:
    """What one pass over the VMs found and did."""

    checked: int = 0
    missing: list[int] = field(default_factory=list)  # gone from Proxmox VE
    moved: list[int] = field(default_factory=list)  # on another node than we recorded
    drifted: list[int] = field(default_factory=list)  # cores or memory changed outside CloudFaster
    back: list[int] = field(default_factory=list)  # marked missing before, found again
    leftovers_removed: list[int] = field(default_factory=list)  # partial VMs a failover left behind


async def reconcile(rt: VmRuntime) -> VmDrift:
    """Compare enabled (and missing) VMs with the cluster; VMs with an active operation are left alone."""
    guests = {g.vmid: g for g in await rt.hv().guests() if not g.template}
    rows = await store.watched(rt.db)
    async with rt.db.read() as session:
        busy = await ops.busy_targets(session, "vm")
    result = VmDrift()
    for vm in rows:
        if str(vm.vmid) in busy:
            continue
        result.checked += 1
        try:
            await _compare(rt, vm, guests.get(vm.vmid), result)
        except StatusTransitionError as exc:  # an operation started on it since we looked: leave it to that
            log.info("reconcile skipped VM %s: %s", vm.vmid, exc.message)
    result.leftovers_removed = await _remove_leftovers(rt, guests)
    return result


async def _compare(rt: VmRuntime, vm: ProxmoxVM, guest: GuestInfo | None, result: VmDrift) -> None:
    if guest is None:
        if vm.status == "enabled":
            log.warning("VM %s is gone from Proxmox VE; marking it missing", vm.vmid)
            await store.merge_detail(rt.db, vm.vmid, status="missing", reconcile="not found in Proxmox VE", power=None)
            result.missing.append(vm.vmid)
        return
    if guest.status == "unknown":  # its node is offline: nothing to conclude
        return
    changes: dict[str, Any] = {}
    status = None
    if vm.status == "missing":
        status = "enabled"
        changes["reconcile"] = None
        result.back.append(vm.vmid)
    if guest.node != vm.node:
        log.warning("VM %s moved from %s to %s outside CloudFaster", vm.vmid, vm.node, guest.node)
        await store.set_node(rt.db, vm.vmid, guest.node)
        result.moved.append(vm.vmid)
    drift = _drift(vm, guest.cpus, guest.memory_bytes)
    if drift:
        result.drifted.append(vm.vmid)
    changes["drift"] = drift or None
    changes["power"] = "running" if guest.status == "running" else "stopped"
    await store.merge_detail(rt.db, vm.vmid, status, **changes)


async def _remove_leftovers(rt: VmRuntime, guests: dict[int, GuestInfo]) -> list[int]:
    """Destroy partial VMs a failover had to leave on an unreachable node, once that node answers again."""
    removed: list[int] = []
    hv = rt.hv()
    poll = {"poll_s": rt.proxmox.task_poll_interval_s, "timeout_s": rt.proxmox.task_timeout_s}
    for vm in await store.with_leftovers(rt.db):
        guest = guests.get(vm.vmid)
        if guest is not None and guest.status == "unknown":
            continue  # its node is still unreachable
        if guest is not None and await is_ours(hv, guest.node, vm.vmid, **poll):
            await stop_and_destroy(hv, guest.node, vm.vmid, running=guest.status == "running")
            log.info("removed the partial VM %s that a failover left on %s", vm.vmid, guest.node)
            removed.append(vm.vmid)
        await store.clear_leftover(rt.db, vm.vmid)
    return removed


def _drift(vm: ProxmoxVM, cpus: int, memory_bytes: int) -> dict[str, Any]:
    if (vm.status_detail or {}).get("pending_reboot"):
        return {}  # our own change waits for a reboot; the running config is expected to differ
    drift: dict[str, Any] = {}
    if cpus and cpus != vm.cores:
        drift["cores"] = {"ours": vm.cores, "proxmox": cpus}
    if memory_bytes and memory_bytes != vm.memory_mb * MIB:
        drift["memory"] = {"ours": vm.memory_mb, "proxmox": memory_bytes // MIB}
    return drift
