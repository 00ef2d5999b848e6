"""``vm.snapshot``, ``vm.snapshot_delete`` and ``vm.rollback``: one PVE task each, never started twice."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from cloudfaster.core.runner.context import OperationContext
from cloudfaster.core.runner.kinds import OperationFailedError
from cloudfaster.proxmox.errors import ProxmoxError
from cloudfaster.proxmox.hypervisor import Hypervisor
from cloudfaster.vms import store
from cloudfaster.vms.errors import op_error
from cloudfaster.vms.kinds.tasks import run_task_once, wait_task
from cloudfaster.vms.params import RollbackParams, SnapshotDeleteParams, SnapshotParams
from cloudfaster.vms.runtime import VmRuntime
from cloudfaster.vms.templates import boot_disk


class _SnapshotTask:
    """One snapshot task on a VM, then the VM's power state recorded."""

    name: str
    task_type: str
    action: str

    def __init__(self, runtime: VmRuntime) -> None:
        self.rt = runtime

    def _start(self, hv: Hypervisor, p: Any) -> Callable[[], Awaitable[str | None]]:
        raise NotImplementedError

    async def run(self, ctx: OperationContext[Any]) -> dict[str, Any]:
        """Run the task once (a resumed attempt finds it again), then read the power state."""
        hv = self.rt.hv()
        p = ctx.params
        try:
            await ctx.step(self.action, partial(self._task, ctx, hv))
            power = (await hv.status(p.node, p.vmid)).power
        except ProxmoxError as exc:
            raise op_error(exc) from exc
        await store.merge_detail(self.rt.db, p.vmid, power=power)
        return {"vmid": p.vmid, "snapshot": p.name, "power": power}

    async def _task(self, ctx: OperationContext[Any], hv: Hypervisor) -> str:
        p = ctx.params
        await run_task_once(
            ctx, hv, p.node, "upid", self._start(hv, p), vmid=p.vmid, kind=self.task_type, since=p.since
        )
        return "done"

    async def on_failure(self, ctx: OperationContext[Any], error: OperationFailedError) -> None:
        """Record the failed action on the VM."""
        detail = {"action": self.action, "snapshot": ctx.params.name, "message": str(error)}
        await store.merge_detail(self.rt.db, ctx.params.vmid, last_error=detail)


class TakeSnapshot(_SnapshotTask):
    """Take a snapshot (``qmsnapshot``), with RAM state if asked for and the VM runs."""

    name = "vm.snapshot"
    params = SnapshotParams
    task_type = "qmsnapshot"
    action = "snapshot"

    def _start(self, hv: Hypervisor, p: SnapshotParams) -> Callable[[], Awaitable[str | None]]:
        return partial(hv.snapshot, p.node, p.vmid, p.name, description=p.description, vmstate=p.vmstate)


class DeleteSnapshot(_SnapshotTask):
    """Delete a snapshot (``qmdelsnapshot``)."""

    name = "vm.snapshot_delete"
    params = SnapshotDeleteParams
    task_type = "qmdelsnapshot"
    action = "snapshot_delete"

    def _start(self, hv: Hypervisor, p: SnapshotDeleteParams) -> Callable[[], Awaitable[str | None]]:
        return partial(hv.delete_snapshot, p.node, p.vmid, p.name)


class Rollback(_SnapshotTask):
    """Roll back to a snapshot (``qmrollback``): a running VM is stopped first; it runs again afterwards only with
    RAM state, or with ``start``."""

    name = "vm.rollback"
    params = RollbackParams
    task_type = "qmrollback"
    action = "rollback"

    def _start(self, hv: Hypervisor, p: RollbackParams) -> Callable[[], Awaitable[str | None]]:
        return partial(hv.rollback, p.node, p.vmid, p.name, start=p.start)

    async def run(self, ctx: OperationContext[Any]) -> dict[str, Any]:
        """Roll back; the config may differ now (sizes as in the snapshot), so record what PVE holds."""
        result = await super().run(ctx)
        p, hv = ctx.params, self.rt.hv()
        try:
            if p.start:
                await self._wait_running(ctx)
            config = await hv.config(p.node, p.vmid)
            power = (await hv.status(p.node, p.vmid)).power
        except ProxmoxError as exc:
            raise op_error(exc) from exc
        await store.record_config_sizes(self.rt.db, p.vmid, config, boot_disk(config)[1])
        await store.merge_detail(self.rt.db, p.vmid, power=power, pending_reboot=None)
        return {**result, "power": power}

    async def _wait_running(self, ctx: OperationContext[Any]) -> None:
        """``start=1`` forks its own ``qmstart`` (Qemu.pm rollback calls vm_start): wait for that one too."""
        p = ctx.params
        hv = self.rt.hv()
        upid = ctx.saved("start_upid") or await hv.find_task(p.node, p.vmid, "qmstart", p.since)
        if upid is not None:
            await ctx.save("start_upid", upid)
            await wait_task(hv, upid)
