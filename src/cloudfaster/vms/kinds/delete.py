"""``vm.delete``: stop the VM if needed, destroy it with its disks, keep the row as ``deleted``."""

from __future__ import annotations

from functools import partial
from typing import Any

from cloudfaster.core.runner.context import OperationContext
from cloudfaster.core.runner.kinds import OperationFailedError
from cloudfaster.db.base import utcnow
from cloudfaster.proxmox.errors import ProxmoxError, ProxmoxVmMissingError
from cloudfaster.proxmox.hypervisor import Hypervisor
from cloudfaster.vms import store
from cloudfaster.vms.errors import op_error
from cloudfaster.vms.kinds.tasks import run_task
from cloudfaster.vms.runtime import VmRuntime


class DeleteVm:
    """Destroy a VM; a VM already gone from Proxmox is simply marked deleted."""

    name = "vm.delete"

    def __init__(self, runtime: VmRuntime) -> None:
        self.rt = runtime

    async def run(self, ctx: OperationContext) -> dict[str, Any]:
        """Stop, destroy, mark deleted."""
        vmid, node = int(ctx.params["vmid"]), ctx.params.get("node")
        outcome = "nothing to destroy"
        if node:
            hv = self.rt.hv()
            try:
                await ctx.step("stop", partial(self._stop, ctx, hv, node, vmid))
                outcome = await ctx.step("destroy", partial(self._destroy, ctx, hv, node, vmid))
            except ProxmoxError as exc:
                raise op_error(exc) from exc
        await store.update_vm(self.rt.db, vmid, status="deleted", deleted_at=utcnow())
        await store.merge_detail(self.rt.db, vmid, power=None, pending_reboot=None)
        return {"vmid": vmid, "outcome": outcome}

    async def _stop(self, ctx: OperationContext, hv: Hypervisor, node: str, vmid: int) -> str:
        try:
            status = await hv.status(node, vmid)
        except ProxmoxVmMissingError:
            return "gone"
        if status.status != "running" and ctx.saved("stop_upid") is None:
            return "not running"
        await run_task(ctx, hv, node, "stop_upid", partial(hv.power, node, vmid, "stop"))
        return "stopped"

    async def _destroy(self, ctx: OperationContext, hv: Hypervisor, node: str, vmid: int) -> str:
        try:
            await run_task(ctx, hv, node, "destroy_upid", partial(hv.destroy, node, vmid))
        except ProxmoxVmMissingError:
            return "already gone"
        return "destroyed"

    async def on_failure(self, ctx: OperationContext, error: OperationFailedError) -> None:
        """Give the VM its previous status back, with the error."""
        await store.merge_detail(
            self.rt.db,
            int(ctx.params["vmid"]),
            status=str(ctx.params.get("previous_status", "enabled")),
            last_error={"action": "delete", "message": str(error)},
        )
