"""Plain data the hypervisor seam returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class NodeLoad:
    """A node's state and free capacity, from the ``/nodes`` listing."""

    name: str
    online: bool
    cpus: int = 0
    cpu_usage: float = 0.0  # 0..1
    memory_total: int = 0
    memory_used: int = 0

    @property
    def memory_free(self) -> int:
        """Free memory in bytes (0 for offline nodes)."""
        return max(0, self.memory_total - self.memory_used)


@dataclass(frozen=True, slots=True)
class GuestInfo:
    """One guest from ``/cluster/resources?type=vm``."""

    vmid: int
    node: str
    name: str
    status: str
    template: bool
    lock: str | None = None
    cpus: int = 0
    memory_bytes: int = 0
    disk_bytes: int = 0


@dataclass(frozen=True, slots=True)
class VmStatus:
    """``status/current`` of one VM: power state and usage."""

    status: str  # running | stopped
    qmpstatus: str  # running | paused | stopped | ...
    lock: str | None = None
    uptime_s: int = 0
    cpus: int = 0
    cpu_usage: float = 0.0
    memory_bytes: int = 0
    memory_used_bytes: int = 0
    disk_bytes: int = 0
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def power(self) -> str:
        """``running``, ``paused`` or ``stopped``: what a user means by power state."""
        if self.status == "running" and self.qmpstatus in ("paused", "suspended", "prelaunch"):
            return "paused"
        return "running" if self.status == "running" else "stopped"


@dataclass(frozen=True, slots=True)
class TaskStatus:
    """A worker task's status; ``exitstatus`` only once stopped."""

    upid: str
    running: bool
    exitstatus: str | None = None

    @property
    def ok(self) -> bool:
        """Stopped with ``OK`` or ``WARNINGS: n`` (UPID.pm ``status_is_error``)."""
        return not self.running and (self.exitstatus == "OK" or str(self.exitstatus).startswith("WARNINGS"))


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One entry of ``GET …/snapshot``; ``parent`` is the snapshot it descends from."""

    name: str
    description: str = ""
    snaptime: int = 0
    vmstate: bool = False
    parent: str | None = None
    snapstate: str | None = None  # prepare | delete while an operation runs on it


@dataclass(frozen=True, slots=True)
class SnapshotTree:
    """A VM's snapshots and the one its current state descends from (``current``'s parent)."""

    snapshots: list[Snapshot]
    current_parent: str | None
    running: bool


@dataclass(frozen=True, slots=True)
class BackupVolume:
    """A backup archive in a storage's content listing."""

    volid: str
    vmid: int
    size: int
    ctime: int
    format: str
    notes: str | None = None
