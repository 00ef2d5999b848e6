"""``vm.create``: clone the OS template (or restore a backup archive), configure, grow the disk and start, failing
over node by node."""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cloudfaster.core.runner.context import OperationContext
from cloudfaster.core.runner.kinds import OperationFailedError, RetryableError
from cloudfaster.proxmox.encoding import encode_sshkeys
from cloudfaster.proxmox.errors import (
    ProxmoxAlreadyExistsError,
    ProxmoxAuthFailedError,
    ProxmoxError,
    ProxmoxNodeDownError,
    ProxmoxTransientError,
)
from cloudfaster.proxmox.hypervisor import Hypervisor
from cloudfaster.vms import pool_store, store
from cloudfaster.vms.errors import op_error
from cloudfaster.vms.kinds.restore import restore_archive, restore_placement
from cloudfaster.vms.kinds.tasks import is_ours, marker, remove_vm, run_task
from cloudfaster.vms.params import CreateParams
from cloudfaster.vms.placement import plan
from cloudfaster.vms.pools import PoolExhaustedError, assign, with_bridge
from cloudfaster.vms.runtime import VmRuntime
from cloudfaster.vms.templates import boot_disk

GIB = 1024**3
MIB = 1024**2


def current_vmid(ctx: OperationContext[CreateParams]) -> int:
    """The VM's VMID: the one reserved at the request, or the one it was renumbered to during failover."""
    renumbered: int | None = ctx.saved("vmid")
    return ctx.params.vmid if renumbered is None else renumbered


class CreateVm:
    """Create one VM; every step is checkpointed and every UPID saved before it is waited on."""

    name = "vm.create"
    params = CreateParams

    def __init__(self, runtime: VmRuntime) -> None:
        self.rt = runtime

    @property
    def _poll(self) -> dict[str, float]:
        return {"poll_s": self.rt.proxmox.task_poll_interval_s, "timeout_s": self.rt.proxmox.task_timeout_s}

    async def run(self, ctx: OperationContext[CreateParams]) -> dict[str, Any]:
        """Place, then build on each candidate node in turn until one succeeds."""
        try:
            return await self._run(ctx)
        finally:  # what is left of the VM is counted by Proxmox (running) or gone
            self.rt.placed.pop(ctx.params.vmid, None)
            self.rt.placed.pop(current_vmid(ctx), None)

    async def _run(self, ctx: OperationContext[CreateParams]) -> dict[str, Any]:
        hv = self.rt.hv()
        vmid = current_vmid(ctx)
        try:
            placement = await ctx.step("place", partial(self._place, hv, ctx.params), pure=True)
        except ProxmoxError as exc:
            raise op_error(exc) from exc
        failures: dict[str, str] = dict(ctx.saved("failures") or {})
        for candidate in placement["order"]:
            node = candidate["node"]
            if node in failures:  # failed in an earlier attempt, which may have ended before the VM's renumbering
                vmid = await self._renumber_if_left(ctx, hv, vmid, node)
                continue
            await ctx.save("node", node, write=False)  # written with the start of the next step, before its effect
            self.rt.placed[vmid] = (node, ctx.params.memory * MIB)
            try:
                await self._build(ctx, hv, node, candidate["template"], vmid)
            except PoolExhaustedError as exc:  # nothing was made on this node: the address comes first
                await ctx.note(f"failover@{node}", exc.message)
                failures[node] = exc.message
                await ctx.save("failures", failures, write=False)
                await ctx.save("exhausted", [*(ctx.saved("exhausted") or []), node])
                continue
            except (ProxmoxTransientError, ProxmoxAuthFailedError) as exc:
                raise RetryableError(f"Proxmox VE ({node}): {exc.message}") from exc
            except ProxmoxError as exc:
                reason = exc.message
                if isinstance(exc, ProxmoxNodeDownError):
                    self.rt.view.pop("cluster")  # the next placement asks again which nodes are up
                await ctx.note(f"failover@{node}", reason)
                made = ctx.saved(f"clone_upid@{node}") is not None or f"clone@{node}" in ctx.checkpoints
                if not made and isinstance(exc, ProxmoxNodeDownError) and exc.status:
                    leftover = None  # the node's proxy answered 595 to the clone itself: nothing was made there
                else:
                    leftover = await remove_vm(ctx, hv, node, vmid, **self._poll)
                failures[node] = reason if leftover is None else f"{reason}; {leftover}"
                if leftover is not None:  # saved with the failure: an attempt that resumes still renumbers
                    await ctx.save("leftovers", {**(ctx.saved("leftovers") or {}), node: leftover}, write=False)
                await ctx.save("failures", failures)
                vmid = await self._renumber_if_left(ctx, hv, vmid, node)
                continue
            ctx.finish_with(
                partial(
                    store.merge_detail_in, vmid=vmid, status="enabled", node=node, failures=failures or None,
                    power="running", error=None,
                )
            )  # fmt: skip
            return {"vmid": vmid, "node": node, "failures": failures}
        details = {"nodes": failures, "skipped": placement["skipped"]}
        if failures and set(failures) == set(ctx.saved("exhausted") or []):
            raise OperationFailedError(
                "no free address in the IP pools of the nodes the VM could go to",
                code="pool_exhausted",
                details=details,
            )
        raise OperationFailedError("no node could create the VM", code="no_node_available", details=details)

    async def _renumber_if_left(self, ctx: OperationContext[CreateParams], hv: Hypervisor, vmid: int, node: str) -> int:
        """The VM's VMID after its failure on ``node``: a new one if a partial VM may remain there (once)."""
        leftover: str | None = (ctx.saved("leftovers") or {}).get(node)
        if leftover is None:
            return vmid
        # VMIDs are cluster-wide (pve-behaviour.md §5): a partial VM left on an unreachable node keeps its VMID
        # taken, so the next node gets the VM under a new one.
        return await ctx.step(f"renumber@{node}", partial(self._renumber, ctx, hv, vmid, node, leftover))

    async def _renumber(
        self, ctx: OperationContext[CreateParams], hv: Hypervisor, old: int, node: str, leftover: str
    ) -> int:
        """Move our record to a freshly reserved VMID; the old one stays reserved (deleted) until cleaned up."""
        new = await store.renumber(self.rt.db, hv, self.rt.proxmox, old, leftover={"node": node, "reason": leftover})
        await ctx.save("vmid", new)
        await ctx.note(f"renumbered@{node}", f"VM {old} may remain on unreachable {node}; the VM is now {new}")
        return new

    async def _place(self, hv: Hypervisor, params: CreateParams) -> dict[str, Any]:
        if params.restore is not None:
            return await restore_placement(hv, self.rt.node_names, params)
        template = self.rt.proxmox.templates[params.os]
        nodes, guests = await self.rt.cluster_view()
        async with self.rt.db.read() as session:  # what other processes placed (recorded by the network step)
            reserved = await store.reserved_memory(session, besides=set(self.rt.placed) | {params.vmid})
        # No await from here to the record: each create of this process sees what the ones before it reserved.
        for node, size in self.rt.placed.values():
            reserved[node] = reserved.get(node, 0) + size
        candidates, skipped = plan(
            nodes=nodes,
            guests=guests,
            allowed=self.rt.node_names,
            template_name=template,
            memory_mb=params.memory,
            preference=params.node,
            spread_key=params.vmid,
            reserved=reserved,
        )
        if candidates:
            self.rt.placed[params.vmid] = (candidates[0].node, params.memory * MIB)
        if not candidates:
            raise OperationFailedError(
                f"no node has the template {template}", code="no_template", details={"skipped": skipped}
            )
        return {"order": [{"node": c.node, "template": c.template_vmid} for c in candidates], "skipped": skipped}

    async def _build(
        self, ctx: OperationContext[CreateParams], hv: Hypervisor, node: str, template: int, vmid: int
    ) -> None:
        params = ctx.params
        network = await ctx.step_in_transaction(f"network@{node}", self.rt.db, partial(self._network, vmid, node))
        if params.restore is None:
            disk = await ctx.step(f"clone@{node}", partial(self._clone, ctx, hv, node, template, vmid))
        else:
            disk = await ctx.step(f"restore@{node}", partial(restore_archive, ctx, hv, node, vmid, **self._poll))
        values: dict[str, Any] = {
            "cores": params.cores,
            "memory": params.memory,
            "ciuser": self.rt.proxmox.ci_user,
            "sshkeys": encode_sshkeys(params.sshkeys),
            **network["config"],
        }
        await ctx.step(f"configure@{node}", partial(self._configure, hv, node, vmid, values, network))
        await ctx.step(f"resize@{node}", partial(self._resize, ctx, hv, node, vmid, disk, params.disk))
        await ctx.step(f"start@{node}", partial(self._start, ctx, hv, node, vmid))

    async def _clone(
        self, ctx: OperationContext[CreateParams], hv: Hypervisor, node: str, template: int, vmid: int
    ) -> dict[str, Any]:
        """Clone the template; returns the boot disk it gives the VM (read from the template while cloning)."""

        async def start() -> str | None:
            try:
                return await hv.clone(node, template, vmid, name=ctx.params.name, description=marker(vmid))
            except ProxmoxAlreadyExistsError:
                # A clone we started before a crash, whose UPID was never saved: it is ours, carry on.
                if await is_ours(hv, node, vmid, **self._poll):
                    await ctx.note(f"adopted@{node}", f"VM {vmid} already cloned on {node} by an earlier attempt")
                    return None
                raise

        _, template_config = await asyncio.gather(
            run_task(ctx, hv, node, f"clone_upid@{node}", start), hv.config(node, template)
        )
        key, size = boot_disk(template_config)
        return {"disk": key, "size": size}

    async def _network(self, vmid: int, node: str, session: AsyncSession) -> dict[str, Any]:
        """The VM's addresses on ``node``: one from each pool serving it (released from the pools of a node it
        failed on, whose copy is gone by now), or DHCP; written into cloud-init before the first start."""
        await store.place(session, vmid, node)  # its memory counts as reserved there for other processes
        return await assign(session, vmid, node)

    async def _configure(
        self, hv: Hypervisor, node: str, vmid: int, values: dict[str, Any], network: dict[str, Any]
    ) -> str:
        if network["bridge"] is not None:
            net0 = str((await hv.config(node, vmid)).get("net0", "virtio"))
            values = {**values, "net0": with_bridge(net0, network["bridge"], network["vlan"])}
        await hv.set_config(node, vmid, values)
        return "configured"

    async def _resize(
        self, ctx: OperationContext[CreateParams], hv: Hypervisor, node: str, vmid: int, disk: dict[str, Any],
        disk_gb: int,
    ) -> str:  # fmt: skip
        key: str = disk["disk"]
        size: int = disk["size"]
        wanted = disk_gb * GIB
        if size > wanted:
            raise OperationFailedError(
                f"the template's disk is {size / GIB:g} GB; the VM's disk cannot be smaller",
                code="disk_smaller_than_template",
            )
        if size == wanted:
            return "unchanged"
        await run_task(ctx, hv, node, f"resize_upid@{node}", partial(hv.resize, node, vmid, key, f"{disk_gb}G"))
        return f"{key}={disk_gb}G"

    async def _start(self, ctx: OperationContext[CreateParams], hv: Hypervisor, node: str, vmid: int) -> str:
        key = f"start_upid@{node}"
        resumed = ctx.fence > 1  # only a resumed attempt can find the VM started without a saved UPID
        if resumed and ctx.saved(key) is None and (await hv.status(node, vmid)).status == "running":
            return "already running"
        await run_task(ctx, hv, node, key, partial(hv.power, node, vmid, "start"))
        return "running"

    async def on_failure(self, ctx: OperationContext[CreateParams], error: OperationFailedError) -> None:
        """Remove what the current node holds, then mark the VM failed with the reasons."""
        vmid = current_vmid(ctx)
        failures: dict[str, str] = dict(ctx.saved("failures") or {})
        node = ctx.saved("node")
        leftover = None
        if node and node not in failures and self.rt.hypervisor is not None:
            leftover = await remove_vm(ctx, self.rt.hypervisor, node, vmid, **self._poll)
            failures[node] = str(error) if leftover is None else f"{error}; {leftover}"
        if leftover is None:  # the VM is gone everywhere it was tried: its addresses can go to others
            async with self.rt.db.write() as session:
                await pool_store.release(session, vmid)
        detail = error.details if isinstance(error.details, dict) else {}
        await store.merge_detail(
            self.rt.db,
            vmid,
            status="failed",
            node=None,
            error={"code": error.code, "message": str(error)},
            failures=failures or detail.get("nodes") or None,
            power=None,
        )
