"""The VM half as the composition root sees it: its runtime, kinds, readiness probe and reconcile loop."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from cloudfaster.core.cascade import CASCADE
from cloudfaster.core.loops import PeriodicTask
from cloudfaster.core.runner.kinds import OperationKind
from cloudfaster.core.runner.runner import OperationRunner
from cloudfaster.db.engine import Database
from cloudfaster.proxmox.errors import ProxmoxError
from cloudfaster.settings import Settings
from cloudfaster.vms import service
from cloudfaster.vms.kinds.backup import BackupVm, DeleteBackup
from cloudfaster.vms.kinds.create import CreateVm
from cloudfaster.vms.kinds.delete import DeleteVm
from cloudfaster.vms.kinds.power import PowerVm
from cloudfaster.vms.kinds.rebuild import RebuildVm
from cloudfaster.vms.kinds.resize import ResizeVm
from cloudfaster.vms.kinds.restore import OverwriteVm
from cloudfaster.vms.kinds.snapshot import DeleteSnapshot, Rollback, TakeSnapshot
from cloudfaster.vms.reconcile import reconcile
from cloudfaster.vms.runtime import VmRuntime
from cloudfaster.vms.sandbox import Sandbox
from cloudfaster.vms.schedules import run_due
from cloudfaster.vms.sizes import seed_sizes

log = logging.getLogger("cloudfaster.vms")


class VmFeature:
    """Virtual machines on Proxmox VE (or on the embedded sandbox when no node is configured)."""

    name = "proxmox"

    def __init__(self, settings: Settings, db: Database, runner: OperationRunner) -> None:
        self.runtime = VmRuntime(settings=settings, db=db, runner=runner, proxmox=settings.proxmox)
        self._sandbox = Sandbox()
        self._reconcile = PeriodicTask(
            "VM reconcile", self._reconcile_pass, settings.proxmox.reconcile_interval_s, jitter=0.1
        )
        self._schedules = PeriodicTask(
            "backup schedules", self._schedule_pass, settings.proxmox.schedule_interval_s, jitter=0.1, run_first=True
        )

    def kinds(self) -> Iterable[OperationKind[Any]]:
        """Create, resize, power, delete; snapshots, backups, restore and rebuild."""
        rt = self.runtime
        return (
            CreateVm(rt), ResizeVm(rt), PowerVm(rt), DeleteVm(rt), TakeSnapshot(rt), DeleteSnapshot(rt), Rollback(rt),
            BackupVm(rt), DeleteBackup(rt), OverwriteVm(rt), RebuildVm(rt),
        )  # fmt: skip

    async def delete_owned(self, userid: str) -> list[str]:
        """Start deleting the user's VMs; the operations to wait for (``core.cascade``)."""
        return await service.delete_owned(self.runtime, CASCADE, userid)

    async def probe(self) -> dict[str, Any]:
        """The Proxmox VE version, or why it cannot be read."""
        rt = self.runtime
        result: dict[str, Any] = {"sandbox": rt.sandbox, "nodes": rt.node_names}
        try:
            version = await rt.hv().version()
        except Exception as exc:
            return {**result, "ok": False, "error": getattr(exc, "message", type(exc).__name__)}
        return {**result, "ok": True, "version": version.get("version")}

    async def start(self, *, run_worker: bool) -> None:
        """Seed the VM sizes on the first start, start the sandbox if it is on, connect the cluster, and reconcile
        where operations run."""
        rt = self.runtime
        await seed_sizes(rt.db, rt.settings.proxmox.sizes)
        if rt.settings.proxmox.use_sandbox:
            rt.proxmox = await self._sandbox.start(rt.settings.proxmox)
            rt.sandbox = True
        if not rt.connect():
            # Sandbox switched off and no node configured: the rest of CloudFaster runs, VM calls answer 503.
            log.warning("no Proxmox VE node is configured and the sandbox is off: VM requests will answer 503")
            return
        if run_worker:
            self._reconcile.start()
            self._schedules.start()

    async def stop(self) -> None:
        """Stop reconciling, disconnect, and stop the sandbox."""
        await self._reconcile.stop()
        await self._schedules.stop()
        rt = self.runtime
        await rt.disconnect()
        if rt.sandbox:
            await self._sandbox.stop()
            rt.sandbox = False

    async def _reconcile_pass(self) -> None:
        try:
            await reconcile(self.runtime)
        except ProxmoxError as exc:  # Proxmox unreachable: nothing to conclude this time
            log.warning("VM reconcile skipped: %s", exc)

    async def _schedule_pass(self) -> None:
        started = await run_due(self.runtime)
        if started:
            log.info("started %d scheduled backup(s)", len(started))
