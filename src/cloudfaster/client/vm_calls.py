"""A VM's second day as ``Call``s: snapshots, backups and their schedule, restore, rebuild, protection, usage."""

from __future__ import annotations

from typing import Any

from cloudfaster.client._core import Call, model, nothing
from cloudfaster.client.daytwo_models import Backup, Schedule, SnapshotList, Usage
from cloudfaster.client.models import Page, Vm


def _body(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def vm_snapshots(vmid: int) -> Call[SnapshotList]:
    """``GET /vm/{vmid}/snapshots``."""
    return Call("GET", f"/vm/{vmid}/snapshots", model(SnapshotList))


def vm_snapshot(vmid: int, name: str, *, description: str = "", vmstate: bool = False) -> Call[Vm]:
    """``POST /vm/{vmid}/snapshots``."""
    body = {"name": name, "description": description, "vmstate": vmstate}
    return Call("POST", f"/vm/{vmid}/snapshots", model(Vm), json=body, idempotent=True)


def vm_rollback(vmid: int, name: str, *, start: bool = False) -> Call[Vm]:
    """``POST /vm/{vmid}/snapshots/{name}/rollback``."""
    return Call("POST", f"/vm/{vmid}/snapshots/{name}/rollback", model(Vm), json={"start": start}, idempotent=True)


def vm_snapshot_delete(vmid: int, name: str) -> Call[Vm]:
    """``DELETE /vm/{vmid}/snapshots/{name}``."""
    return Call("DELETE", f"/vm/{vmid}/snapshots/{name}", model(Vm), idempotent=True)


def vm_backup(vmid: int) -> Call[Vm]:
    """``POST /vm/{vmid}/backups``."""
    return Call("POST", f"/vm/{vmid}/backups", model(Vm), idempotent=True)


def vm_backups(vmid: int, *, limit: int | None = None, cursor: str | None = None) -> Call[Page[Backup]]:
    """``GET /vm/{vmid}/backups``."""
    return Call("GET", f"/vm/{vmid}/backups", model(Page[Backup]), params={"limit": limit, "cursor": cursor})


def backup_list(*, limit: int | None = None, cursor: str | None = None) -> Call[Page[Backup]]:
    """``GET /backups``."""
    return Call("GET", "/backups", model(Page[Backup]), params={"limit": limit, "cursor": cursor})


def backup_get(backup_id: int) -> Call[Backup]:
    """``GET /backups/{id}``."""
    return Call("GET", f"/backups/{backup_id}", model(Backup))


def backup_delete(backup_id: int) -> Call[Backup]:
    """``DELETE /backups/{id}``."""
    return Call("DELETE", f"/backups/{backup_id}", model(Backup), idempotent=True)


def backup_restore(backup_id: int, target: str, **new_vm: Any) -> Call[Vm]:
    """``POST /backups/{id}/restore``: ``same``, or ``new`` (``name``, ``sshkeys``)."""
    body = _body(target=target, **new_vm)
    return Call("POST", f"/backups/{backup_id}/restore", model(Vm), json=body, idempotent=True)


def schedule_get(vmid: int) -> Call[Schedule]:
    """``GET /vm/{vmid}/backup-schedule``."""
    return Call("GET", f"/vm/{vmid}/backup-schedule", model(Schedule))


def schedule_set(vmid: int, schedule: dict[str, Any]) -> Call[Schedule]:
    """``PUT /vm/{vmid}/backup-schedule``."""
    return Call("PUT", f"/vm/{vmid}/backup-schedule", model(Schedule), json=schedule)


def schedule_delete(vmid: int) -> Call[None]:
    """``DELETE /vm/{vmid}/backup-schedule``."""
    return Call("DELETE", f"/vm/{vmid}/backup-schedule", nothing)


def vm_rebuild(vmid: int, confirm: str, **options: Any) -> Call[Vm]:
    """``POST /vm/{vmid}/rebuild`` (``confirm`` = the VM's name; ``os``, ``sshkeys``)."""
    body = _body(confirm=confirm, **options)
    return Call("POST", f"/vm/{vmid}/rebuild", model(Vm), json=body, idempotent=True)


def vm_protect(vmid: int, protected: bool) -> Call[Vm]:
    """``PUT /vm/{vmid}/protection``."""
    return Call("PUT", f"/vm/{vmid}/protection", model(Vm), json={"protected": protected})


def vm_metrics(vmid: int, timeframe: str = "hour") -> Call[Usage]:
    """``GET /vm/{vmid}/metrics``."""
    return Call("GET", f"/vm/{vmid}/metrics", model(Usage), params={"timeframe": timeframe})


def node_metrics(node: str, timeframe: str = "hour") -> Call[Usage]:
    """``GET /nodes/{node}/metrics`` (admin)."""
    return Call("GET", f"/nodes/{node}/metrics", model(Usage), params={"timeframe": timeframe})
