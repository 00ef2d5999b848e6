"""Answer models of a VM's second day: snapshots, backups, backup schedules, usage history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cloudfaster.client.models import Model, OperationRef


class Snapshot(Model):
    """One snapshot."""

    name: str
    description: str
    created_at: datetime | None
    vmstate: bool
    parent: str | None
    state: str | None


class SnapshotList(Model):
    """A VM's snapshots and the one its current state descends from."""

    vmid: int
    running: bool
    current_parent: str | None
    snapshots: list[Snapshot]


class Backup(Model):
    """A backup of a VM."""

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


class Schedule(Model):
    """A VM's backup schedule."""

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


class Usage(Model):
    """Usage history: timestamps and, per series, one value (or None) per timestamp."""

    timeframe: str
    step_s: int
    time: list[int]
    series: dict[str, list[float | None]]
