"""Restores: into a new VM (the steps ``vm.create`` takes instead of cloning) and over the same VM (``vm.restore``)."""

from __future__ import annotations

import contextlib
import time
from functools import partial
from typing import Any

from cloudfaster.core.runner.context import OperationContext
from cloudfaster.core.runner.kinds import OperationFailedError
from cloudfaster.proxmox.errors import (
    ProxmoxAlreadyExistsError,
    ProxmoxError,
    ProxmoxTaskFailedError,
)
from cloudfaster.proxmox.hypervisor import Hypervisor
from cloudfaster.vms import store
from cloudfaster.vms.errors import op_error
from cloudfaster.vms.kinds.tasks import is_ours, marker, run_task, run_task_once, stop_and_destroy
from cloudfaster.vms.params import CreateParams, OverwriteParams
from cloudfaster.vms.runtime import VmRuntime
from cloudfaster.vms.templates import boot_disk


async def restore_placement(hv: Hypervisor, allowed: list[str], params: CreateParams) -> dict[str, Any]:
    """Where a VM restored from a backup can be made: the archive's node, or with a shared backup storage any
    online node (the archive's first)."""
    source = params.restore
    if source is None:
        raise ValueError("not a restore")
    online = {load.name for load in await hv.nodes() if load.online}
    order = [source.node, *(n for n in allowed if n != source.node)] if source.shared else [source.node]
    skipped = {n: "offline" for n in order if n not in online}
    skipped.update({n: "cannot reach the backup storage" for n in allowed if n not in order})
    nodes = [n for n in order if n in online and n in allowed] or [n for n in order if n in allowed]
    if not nodes:
        raise OperationFailedError("no node can reach the backup", code="backup_unreachable", details=skipped)
    return {"order": [{"node": n, "template": 0} for n in nodes], "skipped": skipped}


async def restore_archive(
    ctx: OperationContext[CreateParams], hv: Hypervisor, node: str, vmid: int, *, poll_s: float, timeout_s: float
) -> dict[str, Any]:
    """Restore the archive into the new VMID (the UPID saved before it is waited on); returns its boot disk."""
    source = ctx.params.restore
    if source is None:
        raise ValueError("not a restore")
    options = {"name": ctx.params.name, "description": marker(vmid)}

    async def start() -> str | None:
        try:
            return await hv.restore(node, vmid, source.volid, force=False, options=options)
        except ProxmoxAlreadyExistsError:
            # A restore we started before a crash, whose UPID was never saved: it is ours, carry on.
            if await is_ours(hv, node, vmid, poll_s=poll_s, timeout_s=timeout_s):
                await ctx.note(f"adopted@{node}", f"VM {vmid} already restored on {node} by an earlier attempt")
                return None
            raise

    since = int(ctx.saved("since") or time.time())
    await ctx.save("since", since)
    try:
        await run_task_once(ctx, hv, node, f"restore_upid@{node}", start, vmid=vmid, kind="qmrestore", since=since)
    except ProxmoxTaskFailedError:
        # PVE leaves a failed restore's VM as it is (Qemu.pm create_vm); the VMID is ours, so clear it.
        with contextlib.suppress(ProxmoxError):
            await stop_and_destroy(hv, node, vmid, running=False)
        raise
    key, size = boot_disk(await hv.config(node, vmid))
    return {"disk": key, "size": size}


class OverwriteVm:
    """Restore a VM from one of its backups in place: stop it, restore with ``force``, start it if it ran."""

    name = "vm.restore"
    params = OverwriteParams

    def __init__(self, runtime: VmRuntime) -> None:
        self.rt = runtime

    async def run(self, ctx: OperationContext[OverwriteParams]) -> dict[str, Any]:
        """Stop, restore, start; the VM is ``enabled`` again with the backup's config."""
        hv = self.rt.hv()
        p = ctx.params
        try:
            await ctx.step("stop", partial(self._stop, ctx, hv))
            await ctx.step("restore", partial(self._restore, ctx, hv))
            if p.was_running:
                await ctx.step("start", partial(self._start, ctx, hv))
            power = (await hv.status(p.node, p.vmid)).power
        except ProxmoxError as exc:
            raise op_error(exc) from exc
        await store.merge_detail(self.rt.db, p.vmid, status="enabled", power=power, pending_reboot=None, error=None)
        return {"vmid": p.vmid, "backup_id": p.backup_id, "power": power}

    async def _stop(self, ctx: OperationContext[OverwriteParams], hv: Hypervisor) -> str:
        p = ctx.params
        if (await hv.status(p.node, p.vmid)).status != "running" and ctx.saved("stop_upid") is None:
            return "not running"
        await run_task(ctx, hv, p.node, "stop_upid", partial(hv.power, p.node, p.vmid, "stop"))
        return "stopped"

    async def _restore(self, ctx: OperationContext[OverwriteParams], hv: Hypervisor) -> str:
        p = ctx.params
        start = partial(hv.restore, p.node, p.vmid, p.volid, force=True, options={"description": marker(p.vmid)})
        await run_task_once(ctx, hv, p.node, "restore_upid", start, vmid=p.vmid, kind="qmrestore", since=p.since)
        return "restored"

    async def _start(self, ctx: OperationContext[OverwriteParams], hv: Hypervisor) -> str:
        p = ctx.params
        if ctx.saved("start_upid") is None and (await hv.status(p.node, p.vmid)).status == "running":
            return "already running"
        await run_task(ctx, hv, p.node, "start_upid", partial(hv.power, p.node, p.vmid, "start"))
        return "running"

    async def on_failure(self, ctx: OperationContext[OverwriteParams], error: OperationFailedError) -> None:
        """A restore that started may have left the VM half-written: mark it failed; otherwise give it back."""
        p = ctx.params
        started = ctx.saved("restore_upid") is not None
        if not started:
            await store.set_resources(self.rt.db, p.vmid, cores=p.old.cores, memory_mb=p.old.memory, disk_gb=p.old.disk)
        status = "failed" if started else p.previous_status
        await store.merge_detail(
            self.rt.db, p.vmid, status=status, last_error={"action": "restore", "message": str(error)}
        )
