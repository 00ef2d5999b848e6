"""``vm.delete``: stop the VM if needed, destroy it with its disks, keep the row as ``deleted``."""

from __future__ import annotations

from functools import partial
from typing import Any

from cloudfaster.core.runner.context import OperationContext
from cloudfaster.core.runner.kinds import OperationFailedError
from cloudfaster.proxmox.errors import ProxmoxError, ProxmoxVmMissingError
from cloudfaster.proxmox.hypervisor import Hypervisor
from cloudfaster.vms import store
from cloudfaster.vms.errors import op_error
from cloudfaster.vms.kinds.tasks import run_task
from cloudfaster.vms.params import DeleteParams
from cloudfaster.vms.runtime import VmRuntime


class DeleteVm:
    """Destroy a VM; a VM already gone from Proxmox is simply marked deleted."""

    name = "vm.delete"
    params = DeleteParams

    def __init__(self, runtime: VmRuntime) -> None:
        self.rt = runtime

    async def run(self, ctx: OperationContext[DeleteParams]) -> dict[str, Any]:
        """Stop, destroy, mark deleted."""
        vmid, node = ctx.params.vmid, ctx.params.node
        outcome = "nothing to destroy"
        if node:
            hv = self.rt.hv()
            try:
                await ctx.step("stop", partial(self._stop, ctx, hv, node, vmid))
                outcome = await ctx.step("destroy", partial(self._destroy, ctx, hv, node, vmid))
            except ProxmoxError as exc:
                raise op_error(exc) from exc
        await store.mark_deleted(self.rt.db, vmid)
        return {"vmid": vmid, "outcome": outcome}

    async def _stop(self, ctx: OperationContext[DeleteParams], hv: Hypervisor, node: str, vmid: int) -> str:
        try:
            status = await hv.status(node, vmid)
        except ProxmoxVmMissingError:
            return "gone"
        if status.status != "running" and ctx.saved("stop_upid") is None:
            return "not running"
        await run_task(ctx, hv, node, "stop_upid", partial(hv.power, node, vmid, "stop"))
        return "stopped"

    async def _destroy(self, ctx: OperationContext[DeleteParams], hv: Hypervisor, node: str, vmid: int) -> str:
        try:
            await run_task(ctx, hv, node, "destroy_upid", partial(hv.destroy, node, vmid))
        except ProxmoxVmMissingError:
            return "already gone"
        return "destroyed"

    async def on_failure(self, ctx: OperationContext[DeleteParams], error: OperationFailedError) -> None:
        """Give the VM its previous status back, with the error."""
        await store.merge_detail(
            self.rt.db,
            ctx.params.vmid,
            status=ctx.params.previous_status,
            last_error={"action": "delete", "message": str(error)},
        )
