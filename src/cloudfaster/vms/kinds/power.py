"""``vm.power``: start, stop, shutdown, reboot, suspend or resume a VM and wait for the task."""

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
from cloudfaster.vms.runtime import VmRuntime

# The power state each action leaves the VM in.
OUTCOME = {
    "start": "running",
    "stop": "stopped",
    "shutdown": "stopped",
    "reboot": "running",
    "suspend": "paused",
    "resume": "running",
}


class PowerVm:
    """Run one power action; a VM already in the wanted state is left alone."""

    name = "vm.power"

    def __init__(self, runtime: VmRuntime) -> None:
        self.rt = runtime

    async def run(self, ctx: OperationContext) -> dict[str, Any]:
        """Do the action unless a check shows it is no longer needed."""
        hv = self.rt.hv()
        vmid, node, action = int(ctx.params["vmid"]), str(ctx.params["node"]), str(ctx.params["action"])
        try:
            outcome = await ctx.step(action, partial(self._act, ctx, hv, node, vmid, action))
            power = (await hv.status(node, vmid)).power
        except ProxmoxError as exc:
            raise op_error(exc) from exc
        pending = None if action in ("reboot", "start", "stop", "shutdown") else False
        await store.merge_detail(self.rt.db, vmid, power=power, pending_reboot=pending or None)
        return {"vmid": vmid, "action": action, "outcome": outcome, "power": power}

    async def _act(self, ctx: OperationContext, hv: Hypervisor, node: str, vmid: int, action: str) -> str:
        key = f"{action}_upid"
        if ctx.saved(key) is None and action != "reboot" and (await hv.status(node, vmid)).power == OUTCOME[action]:
            return "already " + OUTCOME[action]
        params: dict[str, Any] = {}
        if action == "shutdown":
            options = ctx.params.get("options") or {}
            if options.get("timeout"):
                params["timeout"] = int(options["timeout"])
            if options.get("force"):
                params["forceStop"] = 1
        await run_task(ctx, hv, node, key, partial(hv.power, node, vmid, action, params))
        return "done"

    async def on_failure(self, ctx: OperationContext, error: OperationFailedError) -> None:
        """Record the failed action on the VM."""
        await store.merge_detail(
            self.rt.db, int(ctx.params["vmid"]), last_error={"action": ctx.params["action"], "message": str(error)}
        )
