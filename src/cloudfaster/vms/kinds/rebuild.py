"""``vm.rebuild``: reinstall a VM from an OS template on its node, keeping its VMID, owner and network identity
(MACs, address configuration, DNS); its disks and snapshots are gone afterwards."""

from __future__ import annotations

import re
from functools import partial
from typing import Any

from cloudfaster.core.runner.context import OperationContext
from cloudfaster.core.runner.kinds import OperationFailedError
from cloudfaster.proxmox.encoding import encode_sshkeys
from cloudfaster.proxmox.errors import ProxmoxAlreadyExistsError, ProxmoxError, ProxmoxVmMissingError
from cloudfaster.proxmox.hypervisor import Hypervisor
from cloudfaster.vms import store
from cloudfaster.vms.errors import op_error
from cloudfaster.vms.kinds.tasks import is_ours, marker, run_task
from cloudfaster.vms.params import RebuildParams
from cloudfaster.vms.runtime import VmRuntime
from cloudfaster.vms.templates import GIB, boot_disk

# Config keys that carry the VM's network identity across a rebuild.
KEPT_KEYS = re.compile(r"^(net\d+|ipconfig\d+|nameserver|searchdomain|cores|sockets|memory|name|ciuser)$")


class RebuildVm:
    """Capture the network identity, stop, destroy, clone the template into the same VMID, configure, grow, start."""

    name = "vm.rebuild"
    params = RebuildParams

    def __init__(self, runtime: VmRuntime) -> None:
        self.rt = runtime

    @property
    def _poll(self) -> dict[str, float]:
        return {"poll_s": self.rt.proxmox.task_poll_interval_s, "timeout_s": self.rt.proxmox.task_timeout_s}

    async def run(self, ctx: OperationContext[RebuildParams]) -> dict[str, Any]:
        """Every step is checkpointed; the captured config is saved before the VM is destroyed."""
        hv = self.rt.hv()
        p = ctx.params
        try:
            kept = await ctx.step("capture", partial(self._capture, hv, p))
            await ctx.step("stop", partial(self._stop, ctx, hv))
            await ctx.step("destroy", partial(self._destroy, ctx, hv))
            disk = await ctx.step("clone", partial(self._clone, ctx, hv))
            values = {**kept, "sshkeys": encode_sshkeys(p.sshkeys), "description": marker(p.vmid)}
            await ctx.step("configure", partial(self._configure, hv, p, values))
            if disk["size"] < p.disk * GIB:
                resize = partial(hv.resize, p.node, p.vmid, disk["disk"], f"{p.disk}G")
                await ctx.step("resize", partial(run_task, ctx, hv, p.node, "resize_upid", resize))
            await ctx.step("start", partial(run_task, ctx, hv, p.node, "start_upid",
                                            partial(hv.power, p.node, p.vmid, "start")))  # fmt: skip
        except ProxmoxError as exc:
            raise op_error(exc) from exc
        await store.merge_detail(self.rt.db, p.vmid, status="enabled", power="running", pending_reboot=None)
        return {"vmid": p.vmid, "os": p.os, "node": p.node}

    async def _capture(self, hv: Hypervisor, p: RebuildParams) -> dict[str, Any]:
        config = await hv.config(p.node, p.vmid)
        return {key: value for key, value in config.items() if KEPT_KEYS.match(key)}

    async def _stop(self, ctx: OperationContext[RebuildParams], hv: Hypervisor) -> str:
        p = ctx.params
        try:
            running = (await hv.status(p.node, p.vmid)).status == "running"
        except ProxmoxVmMissingError:
            return "gone"
        if not running and ctx.saved("stop_upid") is None:
            return "not running"
        await run_task(ctx, hv, p.node, "stop_upid", partial(hv.power, p.node, p.vmid, "stop"))
        return "stopped"

    async def _destroy(self, ctx: OperationContext[RebuildParams], hv: Hypervisor) -> str:
        p = ctx.params
        try:
            await run_task(ctx, hv, p.node, "destroy_upid", partial(hv.destroy, p.node, p.vmid))
        except ProxmoxVmMissingError:
            return "already gone"
        return "destroyed"

    async def _clone(self, ctx: OperationContext[RebuildParams], hv: Hypervisor) -> dict[str, Any]:
        p = ctx.params
        guests = await hv.guests()
        template = next((g.vmid for g in guests if g.template and g.node == p.node and g.name == p.template), None)
        if template is None:
            raise OperationFailedError(f"node {p.node} has no template {p.template}", code="no_template")

        async def start() -> str | None:
            try:
                return await hv.clone(p.node, template, p.vmid, name=_name(ctx), description=marker(p.vmid))
            except ProxmoxAlreadyExistsError:
                if await is_ours(hv, p.node, p.vmid, **self._poll):  # cloned before a crash, UPID never saved
                    return None
                raise

        await run_task(ctx, hv, p.node, "clone_upid", start)
        key, size = boot_disk(await hv.config(p.node, p.vmid))
        return {"disk": key, "size": size}

    async def _configure(self, hv: Hypervisor, p: RebuildParams, values: dict[str, Any]) -> str:
        await hv.set_config(p.node, p.vmid, values)
        return "configured"

    async def on_failure(self, ctx: OperationContext[RebuildParams], error: OperationFailedError) -> None:
        """Before the destroy nothing is lost (the VM is enabled again, as it was); after it, the VM is failed."""
        p = ctx.params
        destroyed = "destroy" in ctx.checkpoints or ctx.saved("destroy_upid") is not None
        if not destroyed:
            await store.restore_os(self.rt.db, p.vmid, os=p.old_os, sshkeys=p.old_sshkeys)
        await store.merge_detail(
            self.rt.db, p.vmid, status="failed" if destroyed else "enabled",
            last_error={"action": "rebuild", "message": str(error)},
        )  # fmt: skip


def _name(ctx: OperationContext[RebuildParams]) -> str:
    captured: dict[str, Any] = ctx.saved("capture") or {}
    return str(captured.get("name") or f"vm-{ctx.params.vmid}")
