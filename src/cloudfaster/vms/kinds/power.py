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
from cloudfaster.vms.params import PowerAction, PowerParams
from cloudfaster.vms.runtime import VmRuntime

# The power state each action leaves the VM in.
OUTCOME: dict[PowerAction, str] = {
    "start": "running",
    "stop": "stopped",
    "shutdown": "stopped",
    "reboot": "running",
    "suspend": "paused",
    "resume": "running",
}
# Actions after which the VM runs its stored config (or will, at the next start): a change pending a reboot is not
# pending any more. Suspend and resume keep the running config, so they leave ``pending_reboot`` as it is.
APPLIES_PENDING: frozenset[PowerAction] = frozenset({"reboot", "start", "stop", "shutdown"})


class PowerVm:
    """Run one power action; a VM already in the wanted state is left alone."""

    name = "vm.power"
    params = PowerParams

    def __init__(self, runtime: VmRuntime) -> None:
        self.rt = runtime

    async def run(self, ctx: OperationContext[PowerParams]) -> dict[str, Any]:
        """Do the action unless a check shows it is no longer needed."""
        hv = self.rt.hv()
        p = ctx.params
        try:
            outcome = await ctx.step(p.action, partial(self._act, ctx, hv))
            power = (await hv.status(p.node, p.vmid)).power
        except ProxmoxError as exc:
            raise op_error(exc) from exc
        detail: dict[str, Any] = {"power": power}
        if p.action in APPLIES_PENDING:
            detail["pending_reboot"] = None  # removes the key
        await store.merge_detail(self.rt.db, p.vmid, **detail)
        return {"vmid": p.vmid, "action": p.action, "outcome": outcome, "power": power}

    async def _act(self, ctx: OperationContext[PowerParams], hv: Hypervisor) -> str:
        p = ctx.params
        key = f"{p.action}_upid"
        wanted = OUTCOME[p.action]
        if ctx.saved(key) is None and p.action != "reboot" and (await hv.status(p.node, p.vmid)).power == wanted:
            return "already " + wanted
        params: dict[str, Any] = {}
        if p.action == "shutdown":
            if p.options.timeout:
                params["timeout"] = p.options.timeout
            if p.options.force:
                params["forceStop"] = 1
        await run_task(ctx, hv, p.node, key, partial(hv.power, p.node, p.vmid, p.action, params))
        return "done"

    async def on_failure(self, ctx: OperationContext[PowerParams], error: OperationFailedError) -> None:
        """Record the failed action on the VM."""
        await store.merge_detail(
            self.rt.db, ctx.params.vmid, last_error={"action": ctx.params.action, "message": str(error)}
        )
