"""The reconcile pass: mark VMs that disappeared, moved or changed outside CloudFaster."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy import select

from cloudfaster.api.schemas.vms import ReconcileResult
from cloudfaster.db.models import Operation, ProxmoxVM
from cloudfaster.proxmox.errors import ProxmoxError
from cloudfaster.vms import store
from cloudfaster.vms.kinds.tasks import is_ours
from cloudfaster.vms.runtime import VmRuntime

log = logging.getLogger("cloudfaster.vms.reconcile")
MIB = 1024**2


async def reconcile(rt: VmRuntime) -> ReconcileResult:
    """Compare enabled (and missing) VMs with the cluster; VMs with an active operation are left alone."""
    guests = {g.vmid: g for g in await rt.hv().guests() if not g.template}
    async with rt.db.read() as session:
        rows = list(
            (await session.execute(select(ProxmoxVM).where(ProxmoxVM.status.in_(("enabled", "missing"))))).scalars()
        )
        busy = set(
            (
                await session.execute(
                    select(Operation.target_id).where(
                        Operation.target_type == "vm", Operation.active_target.is_not(None)
                    )
                )
            ).scalars()
        )
    result = ReconcileResult(checked=0, missing=[], moved=[], drifted=[], back=[])
    for vm in rows:
        if str(vm.vmid) in busy:
            continue
        result.checked += 1
        guest = guests.get(vm.vmid)
        if guest is None:
            if vm.status == "enabled":
                log.warning("VM %s is gone from Proxmox VE; marking it missing", vm.vmid)
                await store.merge_detail(
                    rt.db, vm.vmid, status="missing", reconcile="not found in Proxmox VE", power=None
                )
                result.missing.append(vm.vmid)
            continue
        if guest.status == "unknown":  # its node is offline: nothing to conclude
            continue
        changes: dict[str, Any] = {}
        if vm.status == "missing":
            changes.update(status="enabled", reconcile=None)
            result.back.append(vm.vmid)
        if guest.node != vm.node:
            log.warning("VM %s moved from %s to %s outside CloudFaster", vm.vmid, vm.node, guest.node)
            await store.update_vm(rt.db, vm.vmid, node=guest.node)
            result.moved.append(vm.vmid)
        drift = _drift(vm, guest.cpus, guest.memory_bytes)
        if drift:
            result.drifted.append(vm.vmid)
        changes["drift"] = drift or None
        changes["power"] = "running" if guest.status == "running" else "stopped"
        await store.merge_detail(rt.db, vm.vmid, **changes)
    result.leftovers_removed = await _remove_leftovers(rt, guests)
    return result


async def _remove_leftovers(rt: VmRuntime, guests: dict[int, Any]) -> list[int]:
    """Destroy partial VMs a failover had to leave on an unreachable node, once that node answers again."""
    async with rt.db.read() as session:
        rows = list((await session.execute(select(ProxmoxVM).where(ProxmoxVM.status == "deleted"))).scalars())
    removed: list[int] = []
    hv = rt.hv()
    poll = {"poll_s": rt.proxmox.task_poll_interval_s, "timeout_s": rt.proxmox.task_timeout_s}
    for vm in rows:
        leftover = (vm.status_detail or {}).get("leftover")
        if not leftover:
            continue
        guest = guests.get(vm.vmid)
        if guest is not None and guest.status == "unknown":
            continue  # its node is still unreachable
        if guest is not None and await is_ours(hv, guest.node, vm.vmid, **poll):
            if guest.status == "running":
                await hv.wait(guest.node, await hv.power(guest.node, vm.vmid, "stop"))
            await hv.wait(guest.node, await hv.destroy(guest.node, vm.vmid))
            log.info("removed the partial VM %s that a failover left on %s", vm.vmid, guest.node)
            removed.append(vm.vmid)
        await store.merge_detail(rt.db, vm.vmid, leftover=None, leftover_cleared=True)
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


async def reconcile_forever(rt: VmRuntime) -> None:
    """Run the pass every ``reconcile_interval_s``; failures are logged and retried next time."""
    while True:
        await asyncio.sleep(rt.proxmox.reconcile_interval_s)
        try:
            await reconcile(rt)
        except asyncio.CancelledError:
            raise
        except (ProxmoxError, Exception) as exc:
            log.warning("reconcile pass failed: %s", exc)
