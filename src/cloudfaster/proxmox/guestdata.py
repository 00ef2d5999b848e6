"""The client's calls for a VM's second day: snapshots, vzdump and restore, backup archives, RRD history, task
lookups. A mixin of ``ProxmoxCluster`` (client.py), which supplies ``_call``."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from cloudfaster.proxmox.encoding import as_int, pve_bool
from cloudfaster.proxmox.types import BackupVolume, Snapshot, SnapshotTree


class GuestDataCalls:
    """Snapshot, backup, restore, RRD and task-log calls."""

    async def _call(
        self, method: str, path: list[str], params: dict[str, Any] | None = None, *, node: str | None = None
    ) -> Any:
        raise NotImplementedError  # ProxmoxCluster._call

    @staticmethod
    def _guest(node: str, vmid: int, *rest: str) -> list[str]:
        return ["nodes", node, "qemu", str(vmid), *rest]

    async def snapshots(self, node: str, vmid: int) -> SnapshotTree:
        """The VM's snapshots (PVE's hash order) and where its current state hangs in the tree."""
        rows = await self._call("get", self._guest(node, vmid, "snapshot"), node=node)
        current: dict[str, Any] = next((row for row in rows if row.get("name") == "current"), {})
        snapshots = [
            Snapshot(
                name=str(row["name"]),
                description=str(row.get("description") or ""),
                snaptime=as_int(row.get("snaptime")),
                vmstate=bool(as_int(row.get("vmstate"))),
                parent=row.get("parent"),
                snapstate=row.get("snapstate"),
            )
            for row in rows
            if row.get("name") != "current"
        ]
        return SnapshotTree(snapshots, current.get("parent"), bool(as_int(current.get("running"))))

    async def snapshot(self, node: str, vmid: int, name: str, *, description: str, vmstate: bool) -> str:
        """Start a snapshot (``qmsnapshot``); returns the UPID."""
        params = {"snapname": name, "description": description, "vmstate": pve_bool(vmstate)}
        upid: str = await self._call("post", self._guest(node, vmid, "snapshot"), params, node=node)
        return upid

    async def delete_snapshot(self, node: str, vmid: int, name: str) -> str:
        """Start deleting a snapshot (``qmdelsnapshot``); returns the UPID."""
        upid: str = await self._call("delete", self._guest(node, vmid, "snapshot", name), node=node)
        return upid

    async def rollback(self, node: str, vmid: int, name: str, *, start: bool) -> str:
        """Start a rollback (``qmrollback``); ``start`` starts a VM whose snapshot has no RAM state afterwards."""
        path = self._guest(node, vmid, "snapshot", name, "rollback")
        upid: str = await self._call("post", path, {"start": pve_bool(start)}, node=node)
        return upid

    async def vzdump(self, node: str, vmid: int, *, storage: str, mode: str, notes: str) -> str:
        """Start a backup of one VM (a ``vzdump`` task); returns the UPID."""
        params = {"vmid": vmid, "storage": storage, "mode": mode, "compress": "zstd", "notes-template": notes,
                  "remove": pve_bool(False)}  # fmt: skip
        upid: str = await self._call("post", ["nodes", node, "vzdump"], params, node=node)
        return upid

    async def backups(self, node: str, storage: str, vmid: int | None = None) -> list[BackupVolume]:
        """The backup archives on ``storage`` as ``node`` sees them."""
        params: dict[str, Any] = {"content": "backup"}
        if vmid is not None:
            params["vmid"] = vmid
        rows = await self._call("get", ["nodes", node, "storage", storage, "content"], params, node=node)
        return [
            BackupVolume(
                volid=str(row["volid"]),
                vmid=as_int(row.get("vmid")),
                size=as_int(row.get("size")),
                ctime=as_int(row.get("ctime")),
                format=str(row.get("format", "")),
                notes=row.get("notes"),
            )
            for row in rows
        ]

    async def storage_shared(self, node: str, storage: str) -> bool:
        """Whether every node sees ``storage`` (``shared: 1`` in the node's storage list)."""
        rows = await self._call("get", ["nodes", node, "storage"], {"storage": storage}, node=node)
        return any(as_int(row.get("shared")) for row in rows if row.get("storage") == storage)

    async def delete_volume(self, node: str, storage: str, volid: str) -> str | None:
        """Delete a volume (an ``imgdel`` task): the UPID, or None when PVE finished at once."""
        # The volid has ':' and '/' and travels as one path segment, percent-encoded as PVE's UI sends it.
        path = ["nodes", node, "storage", storage, "content", quote(volid, safe="")]
        upid = await self._call("delete", path, node=node)
        return str(upid) if isinstance(upid, str) and upid.startswith("UPID:") else None

    async def restore(self, node: str, vmid: int, archive: str, *, force: bool, options: dict[str, Any]) -> str:
        """Restore an archive into ``vmid`` (``qmrestore``; ``force`` overwrites that VM); ``options`` override the
        restored config. Returns the UPID."""
        params = {"vmid": vmid, "archive": archive, **options}
        if force:
            params["force"] = pve_bool(True)
        else:
            params["unique"] = pve_bool(True)
        upid: str = await self._call("post", ["nodes", node, "qemu"], params, node=node)
        return upid

    async def rrddata(self, node: str, vmid: int | None, timeframe: str) -> list[dict[str, Any]]:
        """RRD rows of a VM (or, with ``vmid`` None, of the node) over ``timeframe``."""
        path = ["nodes", node, "rrddata"] if vmid is None else self._guest(node, vmid, "rrddata")
        rows: list[dict[str, Any]] = await self._call("get", path, {"timeframe": timeframe, "cf": "AVERAGE"}, node=node)
        return rows

    async def task_log(self, node: str, upid: str) -> list[str]:
        """Every line of a task's log."""
        rows = await self._call("get", ["nodes", node, "tasks", upid, "log"], {"start": 0, "limit": 0}, node=node)
        return [str(row.get("t", "")) for row in rows]

    async def find_task(self, node: str, vmid: int, kind: str, since: int) -> str | None:
        """The newest task of type ``kind`` for ``vmid`` started at or after ``since`` (running or not), if any."""
        params = {"vmid": vmid, "typefilter": kind, "since": since, "source": "all", "limit": 10}
        rows = await self._call("get", ["nodes", node, "tasks"], params, node=node)
        return str(rows[0]["upid"]) if rows else None
