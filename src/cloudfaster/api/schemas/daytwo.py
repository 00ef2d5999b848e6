"""Request and response bodies of a VM's second day: snapshots, backups and schedules, rebuild, protection, usage."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from cloudfaster.api.accepted import OperationRef, operation_ref
from cloudfaster.api.schemas.vms import Hostname, OsName
from cloudfaster.db.models import BackupSchedule
from cloudfaster.proxmox.types import SnapshotTree
from cloudfaster.vms.backups import BackupState
from cloudfaster.vms.metrics import Usage
from cloudfaster.vms.schedules import ScheduleSpec
from cloudfaster.vms.sshkeys import check_public_key

SnapshotName = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Description = Annotated[str, StringConstraints(max_length=8192)]
SshKeys = Annotated[list[str], Field(min_length=1, max_length=32, description="OpenSSH public keys")]
WINDOW_START = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def _checked_keys(keys: list[str] | None) -> list[str] | None:
    if keys is None:
        return None
    checked = []
    for index, key in enumerate(keys):
        try:
            checked.append(check_public_key(key))
        except ValueError as exc:
            raise ValueError(f"sshkeys[{index}] is not a valid OpenSSH public key: {exc}") from None
    return checked


class SnapshotCreate(BaseModel):
    """Take a snapshot."""

    model_config = ConfigDict(extra="forbid")

    name: SnapshotName = Field(description="2-40 letters, digits, '-' or '_', starting with a letter")
    description: Description = ""
    vmstate: bool = Field(default=False, description="Also save the RAM of a running VM (rollback resumes it)")


class RollbackRequest(BaseModel):
    """Options of a rollback."""

    model_config = ConfigDict(extra="forbid")

    start: bool = Field(default=False, description="Start the VM afterwards (a snapshot without RAM leaves it off)")


class SnapshotRead(BaseModel):
    """One snapshot."""

    name: str
    description: str
    created_at: datetime | None
    vmstate: bool
    parent: str | None
    state: str | None = Field(description="prepare or delete while an operation works on it")


class SnapshotList(BaseModel):
    """A VM's snapshots; ``current_parent`` is the one its present state descends from."""

    vmid: int
    running: bool
    current_parent: str | None
    snapshots: list[SnapshotRead]

    @classmethod
    def of(cls, vmid: int, tree: SnapshotTree) -> SnapshotList:
        """The view of PVE's snapshot tree."""
        return cls(
            vmid=vmid,
            running=tree.running,
            current_parent=tree.current_parent,
            snapshots=[
                SnapshotRead(
                    name=s.name,
                    description=s.description,
                    vmstate=s.vmstate,
                    parent=s.parent,
                    state=s.snapstate,
                    created_at=datetime.fromtimestamp(s.snaptime, UTC) if s.snaptime else None,
                )
                for s in tree.snapshots
            ],
        )


class BackupRead(BaseModel):
    """A backup of a VM (it outlives the VM)."""

    id: int
    vmid: int
    userid: str | None
    name: str
    os: str
    cores: int
    memory: int
    disk: int
    size_bytes: int | None
    status: str
    scheduled: bool
    mode: str
    created_at: datetime
    finished_at: datetime | None
    deleted_at: datetime | None
    error: dict[str, Any] | None = None
    operation: OperationRef | None = None

    @classmethod
    def of(cls, state: BackupState) -> BackupRead:
        """The view of a backup row."""
        b = state.backup
        detail = b.status_detail or {}
        return cls(
            id=b.id, vmid=b.vmid, userid=state.owner, name=b.name, os=b.os, cores=b.cores, memory=b.memory_mb,
            disk=b.disk_gb, size_bytes=b.size_bytes, status=b.status, scheduled=b.scheduled, mode=b.mode,
            created_at=b.created_at, finished_at=b.finished_at, deleted_at=b.deleted_at,
            error=detail.get("error") or detail.get("last_error"),
            operation=operation_ref(state.operation) if state.operation else None,
        )  # fmt: skip


class RestoreRequest(BaseModel):
    """Restore a backup over its VM (``same``) or into a new VM of the same user (``new``)."""

    model_config = ConfigDict(extra="forbid")

    target: Literal["same", "new"]
    name: Hostname | None = Field(default=None, description="new: the new VM's name (default: the backup's)")
    sshkeys: SshKeys | None = Field(default=None, description="new: keys for the new VM (default: the backup's)")

    @field_validator("sshkeys")
    @classmethod
    def _keys(cls, keys: list[str] | None) -> list[str] | None:
        return _checked_keys(keys)

    @model_validator(mode="after")
    def _only_for_new(self) -> RestoreRequest:
        if self.target == "same" and (self.name is not None or self.sshkeys is not None):
            raise ValueError("name and sshkeys are for a restore into a new VM (target 'new')")
        return self


class RebuildRequest(BaseModel):
    """Reinstall the VM from an OS template; its disks are erased."""

    model_config = ConfigDict(extra="forbid")

    confirm: Annotated[str, StringConstraints(max_length=128)] = Field(
        description="The VM's name, to confirm that its data is to be erased"
    )
    os: OsName | None = Field(default=None, description="Another OS (default: the VM's)")
    sshkeys: SshKeys | None = Field(default=None, description="Keys for the new system (default: the VM's)")

    @field_validator("sshkeys")
    @classmethod
    def _keys(cls, keys: list[str] | None) -> list[str] | None:
        return _checked_keys(keys)


class ProtectionUpdate(BaseModel):
    """Turn delete protection on or off."""

    model_config = ConfigDict(extra="forbid")

    protected: bool


class ScheduleUpdate(BaseModel):
    """A backup schedule: daily, or weekly on ``weekday``; times in UTC."""

    model_config = ConfigDict(extra="forbid")

    frequency: Literal["daily", "weekly"]
    weekday: int | None = Field(default=None, ge=0, le=6, description="weekly: 0 = Monday … 6 = Sunday")
    window_start: str = Field(description="HH:MM (UTC), when the window opens")
    window_minutes: int = Field(default=120, ge=15, le=720, description="how long a backup may wait to start")
    retention: int = Field(default=7, ge=1, le=100, description="scheduled backups to keep (older ones go)")

    @model_validator(mode="after")
    def _consistent(self) -> ScheduleUpdate:
        if not WINDOW_START.match(self.window_start):
            raise ValueError("window_start must be HH:MM (00:00-23:59)")
        if (self.frequency == "weekly") != (self.weekday is not None):
            raise ValueError("weekday is required for a weekly schedule and only for one")
        return self

    def spec(self) -> ScheduleSpec:
        """The schedule as the VM half takes it."""
        hours, minutes = self.window_start.split(":")
        return ScheduleSpec(self.frequency, self.weekday, int(hours) * 60 + int(minutes), self.window_minutes,
                            self.retention)  # fmt: skip


class ScheduleRead(BaseModel):
    """A VM's backup schedule and how it last ran."""

    vmid: int
    frequency: str
    weekday: int | None
    window_start: str
    window_minutes: int
    retention: int
    next_run_at: datetime
    last_run_at: datetime | None
    last_backup_id: int | None
    last_error: dict[str, Any] | None

    @classmethod
    def of(cls, row: BackupSchedule) -> ScheduleRead:
        """The view of a schedule row."""
        start = f"{row.window_start_minute // 60:02d}:{row.window_start_minute % 60:02d}"
        return cls(
            vmid=row.vmid, frequency=row.frequency, weekday=row.weekday, window_start=start,
            window_minutes=row.window_minutes, retention=row.retention, next_run_at=row.next_run_at,
            last_run_at=row.last_run_at, last_backup_id=row.last_backup_id, last_error=row.last_error,
        )  # fmt: skip


class UsageRead(BaseModel):
    """Usage history: one timestamp list and, per series, one value per timestamp (null: unknown then)."""

    timeframe: str
    step_s: int
    time: list[int]
    series: dict[str, list[float | None]] = Field(
        description="cpu (fraction of the cores), memory_used/memory_total (bytes), net_in/net_out and "
        "disk_read/disk_write (bytes/s); nodes also load and iowait"
    )

    @classmethod
    def of(cls, usage: Usage) -> UsageRead:
        """The view of a usage history."""
        return cls(timeframe=usage.timeframe, step_s=usage.step_s, time=usage.time, series=usage.series)
