"""The hypervisor seam: what CloudFaster needs from Proxmox VE, as a small typed interface."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Literal, Protocol

from cloudfaster.proxmox.console import ConsoleSocket
from cloudfaster.proxmox.pacing import TaskPacing
from cloudfaster.proxmox.types import BackupVolume, GuestInfo, NodeLoad, SnapshotTree, TaskStatus, VmStatus


class Hypervisor(Protocol):
    """Async access to a Proxmox VE cluster; every method raises ``ProxmoxError`` subclasses."""

    async def version(self) -> dict[str, Any]:
        """The cluster's PVE version (also a reachability check)."""
        ...

    async def nodes(self) -> list[NodeLoad]:
        """Every node with its state and load."""
        ...

    async def guests(self) -> list[GuestInfo]:
        """Every VM and template in the cluster."""
        ...

    async def vmid_is_free(self, vmid: int) -> bool:
        """Whether ``/cluster/nextid?vmid=N`` accepts ``vmid``."""
        ...

    async def clone(self, node: str, template_vmid: int, newid: int, *, name: str, description: str) -> str:
        """Start a full clone of a template on ``node``; returns the UPID."""
        ...

    async def set_config(self, node: str, vmid: int, values: dict[str, Any]) -> None:
        """Change config keys synchronously (PUT); running VMs may keep some pending."""
        ...

    async def config(self, node: str, vmid: int) -> dict[str, Any]:
        """The VM's config with pending changes merged in."""
        ...

    async def pending(self, node: str, vmid: int) -> list[dict[str, Any]]:
        """Config keys with their current and pending values."""
        ...

    async def resize(self, node: str, vmid: int, disk: str, size: str) -> str | None:
        """Resize a disk; a UPID (PVE >= 8) or None (older PVE, done synchronously)."""
        ...

    async def status(self, node: str, vmid: int) -> VmStatus:
        """The VM's power state and usage."""
        ...

    async def power(self, node: str, vmid: int, action: str, params: dict[str, Any] | None = None) -> str:
        """Start a power action (start, stop, shutdown, reboot, suspend, resume); returns the UPID."""
        ...

    async def destroy(self, node: str, vmid: int) -> str:
        """Destroy a stopped VM with its disks; returns the UPID."""
        ...

    async def task(self, node: str, upid: str) -> TaskStatus:
        """A task's status."""
        ...

    def poll_interval(self) -> float:
        """How long to sleep between two polls of a task now."""
        ...

    def polling(self) -> AbstractContextManager[None]:
        """Count a task wait in progress while inside."""
        ...

    @property
    def pacing(self) -> TaskPacing:
        """How long tasks of each kind have lately taken, to leave a new one alone for about as long."""
        ...

    @property
    def task_timeout_s(self) -> float:
        """How long a task may run before waiting on it gives up."""
        ...

    async def vncproxy(self, node: str, vmid: int) -> dict[str, Any]:
        """Open a VNC websocket proxy: ticket, port, password, cert."""
        ...

    async def spiceproxy(self, node: str, vmid: int) -> dict[str, Any]:
        """A remote-viewer configuration for a running VM."""
        ...

    async def open_console(self, node: str, vmid: int, kind: Literal["vnc", "term"]) -> ConsoleSocket:
        """Open a console proxy and PVE's websocket to it, logged in (VNC auth done, or the terminal's line)."""
        ...

    async def agent_interfaces(self, node: str, vmid: int) -> list[dict[str, Any]]:
        """The guest's network interfaces as its QEMU guest agent reports them."""
        ...

    async def agent_ping(self, node: str, vmid: int) -> None:
        """Ping the guest agent (``ProxmoxAgentUnavailableError`` when it cannot answer)."""
        ...

    def api_host(self, node: str) -> tuple[str, int]:
        """The host and port a browser or viewer reaches ``node``'s API through."""
        ...

    async def close(self) -> None:
        """Release threads and connections."""
        ...

    async def snapshots(self, node: str, vmid: int) -> SnapshotTree:
        """The VM's snapshots and where its current state hangs in the tree."""
        ...

    async def snapshot(self, node: str, vmid: int, name: str, *, description: str, vmstate: bool) -> str:
        """Start a snapshot; returns the UPID."""
        ...

    async def delete_snapshot(self, node: str, vmid: int, name: str) -> str:
        """Start deleting a snapshot; returns the UPID."""
        ...

    async def rollback(self, node: str, vmid: int, name: str, *, start: bool) -> str:
        """Start a rollback to a snapshot; returns the UPID."""
        ...

    async def vzdump(self, node: str, vmid: int, *, storage: str, mode: str, notes: str) -> str:
        """Start a backup of one VM; returns the UPID."""
        ...

    async def backups(self, node: str, storage: str, vmid: int | None = None) -> list[BackupVolume]:
        """The backup archives on a storage as ``node`` sees them."""
        ...

    async def storage_shared(self, node: str, storage: str) -> bool:
        """Whether every node sees ``storage``."""
        ...

    async def delete_volume(self, node: str, storage: str, volid: str) -> str | None:
        """Delete a volume: the UPID, or None when it was done at once."""
        ...

    async def restore(self, node: str, vmid: int, archive: str, *, force: bool, options: dict[str, Any]) -> str:
        """Restore an archive into ``vmid`` (over it with ``force``); returns the UPID."""
        ...

    async def rrddata(self, node: str, vmid: int | None, timeframe: str) -> list[dict[str, Any]]:
        """RRD rows of a VM (or of the node when ``vmid`` is None)."""
        ...

    async def task_log(self, node: str, upid: str) -> list[str]:
        """Every line of a task's log."""
        ...

    async def find_task(self, node: str, vmid: int, kind: str, since: int) -> str | None:
        """The newest task of a type for a VM started at or after ``since``, if any."""
        ...
