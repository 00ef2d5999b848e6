"""``vm.backup`` (one vzdump into the backup row made with the request, then the schedule's retention) and
``backup.delete`` (remove an archive)."""

from __future__ import annotations

from functools import partial
from typing import Any

from cloudfaster.core.runner.context import OperationContext
from cloudfaster.core.runner.kinds import OperationFailedError
from cloudfaster.db.base import utcnow
from cloudfaster.proxmox.errors import ProxmoxError, ProxmoxTaskFailedError
from cloudfaster.proxmox.hypervisor import Hypervisor
from cloudfaster.proxmox.types import BackupVolume
from cloudfaster.vms import backup_store, store
from cloudfaster.vms.errors import op_error
from cloudfaster.vms.kinds.tasks import run_task, run_task_once
from cloudfaster.vms.params import BackupDeleteParams, BackupParams
from cloudfaster.vms.runtime import VmRuntime


def archive_notes(backup_id: int) -> str:
    """The notes vzdump writes with the archive: how CloudFaster finds its archive among the storage's."""
    return f"cloudfaster-backup-{backup_id}"


class BackupVm:
    """vzdump once (the UPID saved before it is waited on, or found again after a crash), then record the archive."""

    name = "vm.backup"
    params = BackupParams

    def __init__(self, runtime: VmRuntime) -> None:
        self.rt = runtime

    async def run(self, ctx: OperationContext[BackupParams]) -> dict[str, Any]:
        """Back up, find the archive by its notes, mark the backup available, prune a schedule's old ones."""
        hv = self.rt.hv()
        p = ctx.params
        try:
            await ctx.step("vzdump", partial(self._vzdump, ctx, hv))
            archive = await ctx.step("locate", partial(self._locate, hv, p))
            power = (await hv.status(p.node, p.vmid)).power
        except ProxmoxError as exc:
            raise op_error(exc) from exc
        backup = await backup_store.backup_row(self.rt.db, p.backup_id)
        if backup.status == "creating":
            await backup_store.write_backup_status(
                self.rt.db, p.backup_id, "available", volid=archive["volid"], size_bytes=archive["size"],
                finished_at=utcnow(),
            )  # fmt: skip
        await store.merge_detail(self.rt.db, p.vmid, power=power)
        pruned = await ctx.step("prune", partial(self._prune, ctx, hv)) if p.retention else []
        return {"vmid": p.vmid, "backup_id": p.backup_id, "size_bytes": archive["size"], "pruned": pruned}

    async def _vzdump(self, ctx: OperationContext[BackupParams], hv: Hypervisor) -> str:
        p = ctx.params
        start = partial(hv.vzdump, p.node, p.vmid, storage=p.storage, mode=p.mode, notes=archive_notes(p.backup_id))
        await run_task_once(ctx, hv, p.node, "vzdump_upid", start, vmid=p.vmid, kind="vzdump", since=p.since)
        return "done"

    async def _locate(self, hv: Hypervisor, p: BackupParams) -> dict[str, Any]:
        volumes = await hv.backups(p.node, p.storage, p.vmid)
        ours: list[BackupVolume] = [v for v in volumes if v.notes == archive_notes(p.backup_id)]
        if not ours:
            raise OperationFailedError(
                "vzdump reported success but its archive is not in the storage", code="backup_archive_missing"
            )
        return {"volid": ours[0].volid, "size": ours[0].size, "ctime": ours[0].ctime}

    async def _prune(self, ctx: OperationContext[BackupParams], hv: Hypervisor) -> list[int]:
        """Remove the VM's scheduled backups beyond the retention count, oldest first."""
        p = ctx.params
        pruned: list[int] = []
        for old in await backup_store.scheduled_beyond(self.rt.db, p.vmid, p.retention or 0):
            if old.volid is None:
                continue
            if old.status == "available":
                await backup_store.write_backup_status(self.rt.db, old.id, "deleting")
            await run_task(ctx, hv, old.node, f"prune_upid@{old.id}", partial(hv.delete_volume, old.node,
                           old.storage, old.volid))  # fmt: skip
            await backup_store.write_backup_status(self.rt.db, old.id, "deleted", deleted_at=utcnow())
            pruned.append(old.id)
        return pruned

    async def on_failure(self, ctx: OperationContext[BackupParams], error: OperationFailedError) -> None:
        """The backup row becomes ``failed`` with the reason; the VM records the failed action."""
        p = ctx.params
        backup = await backup_store.backup_row(self.rt.db, p.backup_id)
        if backup.status == "creating":
            detail = {"error": {"code": error.code, "message": str(error)}}
            await backup_store.write_backup_status(self.rt.db, p.backup_id, "failed", status_detail=detail,
                                            finished_at=utcnow())  # fmt: skip
        await store.merge_detail(self.rt.db, p.vmid, last_error={"action": "backup", "message": str(error)})


class DeleteBackup:
    """Delete a backup's archive; the row stays, ``deleted``."""

    name = "backup.delete"
    params = BackupDeleteParams

    def __init__(self, runtime: VmRuntime) -> None:
        self.rt = runtime

    async def run(self, ctx: OperationContext[BackupDeleteParams]) -> dict[str, Any]:
        """Delete the volume (gone already counts as deleted) and mark the row."""
        hv = self.rt.hv()
        p = ctx.params
        try:
            outcome = await ctx.step("delete", partial(self._delete, ctx, hv))
        except ProxmoxError as exc:
            raise op_error(exc) from exc
        await backup_store.write_backup_status(self.rt.db, p.backup_id, "deleted", deleted_at=utcnow())
        return {"backup_id": p.backup_id, "outcome": outcome}

    async def _delete(self, ctx: OperationContext[BackupDeleteParams], hv: Hypervisor) -> str:
        p = ctx.params
        if ctx.saved("delete_upid") is None:
            present = {v.volid for v in await hv.backups(p.node, p.storage)}
            if p.volid not in present:
                return "already gone"
        try:
            await run_task(ctx, hv, p.node, "delete_upid", partial(hv.delete_volume, p.node, p.storage, p.volid))
        except ProxmoxTaskFailedError as exc:
            raise OperationFailedError(f"Proxmox VE: {exc.message}", code="proxmox_refused") from exc
        return "deleted"

    async def on_failure(self, ctx: OperationContext[BackupDeleteParams], error: OperationFailedError) -> None:
        """The archive is still there: the backup is available again, with the error."""
        detail = {"last_error": {"action": "delete", "message": str(error)}}
        await backup_store.write_backup_status(self.rt.db, ctx.params.backup_id, "available", status_detail=detail)
