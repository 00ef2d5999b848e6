"""``vm.resize``: change cores and memory (hot where possible, else pending a reboot) and grow the disk."""

from __future__ import annotations

from functools import partial
from typing import Any

from cloudfaster.core.runner.context import OperationContext
from cloudfaster.core.runner.kinds import OperationFailedError
from cloudfaster.proxmox.errors import ProxmoxError
from cloudfaster.proxmox.hypervisor import Hypervisor
from cloudfaster.vms import store
from cloudfaster.vms.errors import op_error
from cloudfaster.vms.kinds.tasks import run_task
from cloudfaster.vms.params import ResizeParams
from cloudfaster.vms.runtime import VmRuntime
from cloudfaster.vms.templates import boot_disk

GIB = 1024**3


class ResizeVm:
    """Apply a PATCH; the row already holds the new values (so quota counts them) and is restored on failure."""

    name = "vm.resize"
    params = ResizeParams

    def __init__(self, runtime: VmRuntime) -> None:
        self.rt = runtime

    async def run(self, ctx: OperationContext[ResizeParams]) -> dict[str, Any]:
        """Set config, then grow the disk; report what waits for a reboot."""
        hv = self.rt.hv()
        vmid, node, new = ctx.params.vmid, ctx.params.node, ctx.params.new
        try:
            values: dict[str, Any] = {}
            if new.cores is not None:
                values["cores"] = new.cores
            if new.memory is not None:
                values["memory"] = new.memory
            if values:
                await ctx.step("configure", partial(self._configure, hv, node, vmid, values))
            if new.disk is not None:
                await ctx.step("grow_disk", partial(self._grow, ctx, hv, node, vmid, new.disk))
            pending = {
                str(item["key"]): str(item["pending"])
                for item in await hv.pending(node, vmid)
                if "pending" in item and item["key"] in values
            }
        except ProxmoxError as exc:
            raise op_error(exc) from exc
        await store.merge_detail(self.rt.db, vmid, pending_reboot=bool(pending) or None)
        applied = new.model_dump(exclude_none=True)
        return {"vmid": vmid, "applied": applied, "needs_reboot": bool(pending), "pending": pending}

    async def _configure(self, hv: Hypervisor, node: str, vmid: int, values: dict[str, Any]) -> str:
        await hv.set_config(node, vmid, values)
        return "configured"

    async def _grow(
        self, ctx: OperationContext[ResizeParams], hv: Hypervisor, node: str, vmid: int, disk_gb: int
    ) -> str:
        key, size = boot_disk(await hv.config(node, vmid))
        if size >= disk_gb * GIB and ctx.saved("resize_upid") is None:
            return "unchanged"
        await run_task(ctx, hv, node, "resize_upid", partial(hv.resize, node, vmid, key, f"{disk_gb}G"))
        return f"{key}={disk_gb}G"

    async def on_failure(self, ctx: OperationContext[ResizeParams], error: OperationFailedError) -> None:
        """Put the row's resources back to what they were."""
        vmid, old = ctx.params.vmid, ctx.params.old
        await store.set_resources(self.rt.db, vmid, cores=old.cores, memory_mb=old.memory, disk_gb=old.disk)
        await store.merge_detail(self.rt.db, vmid, last_error={"action": "resize", "message": str(error)})
