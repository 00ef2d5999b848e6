"""Snapshots: list, create, delete, rollback and config (qemu-server Qemu.pm `snapshot_*`, pve-guest-common
AbstractConfig.pm `snapshot_create/delete/rollback`, QemuConfig.pm `__snapshot_*`; notes pve-behaviour-2.md §3)."""

from __future__ import annotations

import time
import uuid
from typing import Any

from pvesim.cluster import Vm, drive_parts
from pvesim.errors import PveError, TaskError
from pvesim.routes.common import config_missing, load_vm, locked, task_check_lock, task_vm
from pvesim.routes.power import halt, run
from pvesim.routing import Call, RouteTable
from pvesim.tasks import Task

table = RouteTable()

# Keys a snapshot does not copy from the current config (QemuConfig `__snapshot_copy_config`).
NOT_COPIED = {"snapshots", "snapstate", "snaptime", "vmstate", "lock", "digest", "description"}
# Storage types whose volumes cannot be snapshotted as PVE stores them here (raw on dir, thick LVM).
NO_SNAPSHOTS = {"dir", "lvm"}


def _missing(name: str) -> str:
    return f"snapshot '{name}' does not exist"


def _snapname(call: Call) -> str:
    return str(call.params["snapname"])


@table.route("GET", "/nodes/{node}/qemu/{vmid}/snapshot")
def list_snapshots(call: Call) -> list[dict[str, Any]]:
    """Every snapshot (hash order) and, last, `current` with the config digest and run state."""
    vm = load_vm(call)
    result: list[dict[str, Any]] = []
    for name, snap in vm.snapshots.items():
        entry: dict[str, Any] = {
            "name": name,
            "snaptime": int(snap.get("snaptime", 0)),
            "vmstate": 1 if snap.get("vmstate") else 0,
            "description": str(snap.get("description", "")),
        }
        if "parent" in snap:
            entry["parent"] = snap["parent"]
        if "snapstate" in snap:
            entry["snapstate"] = snap["snapstate"]
        result.append(entry)
    current: dict[str, Any] = {
        "name": "current",
        "digest": vm.digest(),
        "running": 1 if vm.status == "running" else 0,
        "description": "You are here!",
    }
    if "parent" in vm.config:
        current["parent"] = vm.config["parent"]
    result.append(current)
    return result


def _cannot_snapshot(call: Call, vm: Vm) -> str | None:
    for key, volume, _ in vm.disks():
        storage = call.sim.cluster.storages.get(volume.split(":", 1)[0])
        if storage is not None and storage.type in NO_SNAPSHOTS:
            return f"snapshot feature is not available ({key})"
    return None


@table.route("POST", "/nodes/{node}/qemu/{vmid}/snapshot")
def create_snapshot(call: Call) -> str:
    """Take a snapshot in a `qmsnapshot` task; `lock: snapshot` and `snapstate: prepare` while it runs."""
    vm = load_vm(call)
    name = _snapname(call)
    if name == "current" or name.lower() == "pending":
        raise PveError(500, f"unable to use snapshot name '{name}' (reserved name)")
    with_ram = bool(call.params.get("vmstate"))
    description = str(call.params.get("description", ""))

    def begin(task: Task) -> None:
        if vm.is_template:
            raise TaskError("you can't take a snapshot if it's a template")
        task_check_lock(call, vm)
        if name in vm.snapshots:
            raise TaskError(f"snapshot name '{name}' already used")
        refusal = _cannot_snapshot(call, vm)
        if refusal is not None:
            raise TaskError(refusal)
        snap = {k: v for k, v in vm.config.items() if k not in NOT_COPIED and not k.startswith("unused")}
        snap.update(snapstate="prepare", snaptime=int(time.time()), description=description)
        # vmstate on a stopped VM is silently ignored (AbstractConfig snapshot_create).
        if with_ram and vm.status == "running":
            storage = drive_parts(str(vm.config.get("scsi0", "local-lvm:x")))[0].split(":", 1)[0]
            snap.update(vmstate=f"{storage}:vm-{vm.vmid}-state-{name}", runningmachine="pc-i440fx-9.2+pve1",
                        runningcpu="x86-64-v2-AES")  # fmt: skip
            task.log.append(f"saving VM state and RAM using storage '{storage}'")
        vm.snapshots[name] = snap
        vm.config["lock"] = "snapshot"
        for key, volume, _ in vm.disks():
            task.log.append(f"snapshotting 'drive-{key}' ({volume})")

    def work(task: Task) -> None:
        vm.snapshots[name].pop("snapstate", None)
        vm.config.pop("lock", None)
        vm.config["parent"] = name
        if "vmstate" in vm.snapshots[name]:
            task.log.append("completed saving the VM state in 1s, saved 512.00 MiB")

    def cleanup(task: Task, error: str) -> None:
        task.log.append("snapshot create failed: starting cleanup")
        vm.snapshots.pop(name, None)
        vm.config.pop("lock", None)

    tasks = call.sim.tasks
    return tasks.spawn(call.node, "qmsnapshot", str(vm.vmid), call.user, work, cleanup=cleanup, begin=begin).upid


@table.route("GET", "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}")
def snapshot_index(call: Call) -> list[dict[str, str]]:
    """The two sub-commands; PVE does not check that the snapshot exists here."""
    return [{"cmd": "rollback"}, {"cmd": "config"}]


@table.route("GET", "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}/config")
def snapshot_config(call: Call) -> dict[str, Any]:
    """The snapshot's config section (no digest)."""
    vm = load_vm(call)
    snap = vm.snapshots.get(_snapname(call))
    if snap is None:
        raise PveError(500, _missing(_snapname(call)))
    return dict(snap)


@table.route("PUT", "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}/config")
def update_snapshot_config(call: Call) -> None:
    """Change a snapshot's description; without `description` nothing is checked at all."""
    if "description" not in call.params:
        return
    vm = load_vm(call)
    if vm.lock:
        raise PveError(500, locked(vm))
    snap = vm.snapshots.get(_snapname(call))
    if snap is None:
        raise PveError(500, _missing(_snapname(call)))
    snap["description"] = str(call.params["description"])
    call.sim.mark_dirty()


@table.route("DELETE", "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}")
def delete_snapshot(call: Call) -> str:
    """Delete a snapshot in a `qmdelsnapshot` task; its children (and `current`) move to its parent."""
    name = _snapname(call)
    force = bool(call.params.get("force"))
    load_vm(call)

    def begin(task: Task) -> None:
        vm = task_vm(call, config_missing(call.node, call.vmid))
        if name not in vm.snapshots:
            raise TaskError(_missing(name))
        task_check_lock(call, vm)
        vm.config["lock"] = "snapshot-delete"
        vm.snapshots[name]["snapstate"] = "delete"

    def work(task: Task) -> None:
        vm = task_vm(call, config_missing(call.node, call.vmid))
        snap = vm.snapshots.pop(name)
        parent = snap.get("parent")
        for other in [*vm.snapshots.values(), vm.config]:
            if other.get("parent") == name:
                if parent is None:
                    other.pop("parent", None)
                else:
                    other["parent"] = parent
        vm.config.pop("lock", None)

    def cleanup(task: Task, error: str) -> None:
        vm = call.sim.cluster.vm_on(call.node, call.vmid)
        if vm is None:
            return
        if force:  # force removes the section even when the storage refused (AbstractConfig snapshot_delete)
            work(task)
        # Without force a failed delete leaves `lock: snapshot-delete` behind until `qm unlock`.

    tasks = call.sim.tasks
    return tasks.spawn(call.node, "qmdelsnapshot", str(call.vmid), call.user, work, cleanup=cleanup, begin=begin).upid


@table.route("POST", "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}/rollback")
def rollback(call: Call) -> str:
    """Roll back in a `qmrollback` task: a running VM is hard-stopped first; with RAM state it runs again after."""
    name = _snapname(call)
    start_after = bool(call.params.get("start"))
    load_vm(call)

    def begin(task: Task) -> None:
        vm = task_vm(call, config_missing(call.node, call.vmid))
        if vm.is_template:
            raise TaskError("you can't rollback if vm is a template")
        snap = vm.snapshots.get(name)
        if snap is None:
            raise TaskError(_missing(name))
        if "snapstate" in snap:
            raise TaskError(f"unable to rollback to incomplete snapshot (snapstate = {snap['snapstate']})")
        task_check_lock(call, vm)
        if vm.status == "running":
            halt(vm)
        vm.config["lock"] = "rollback"

    def work(task: Task) -> None:
        vm = task_vm(call, config_missing(call.node, call.vmid))
        snap = vm.snapshots[name]
        kept = {k: v for k, v in vm.config.items() if k == "description" or k.startswith("unused")}
        config = {k: v for k, v in snap.items() if k not in ("snaptime", "vmstate", "runningmachine", "runningcpu")}
        config.pop("description", None)
        config.update(kept, parent=name)
        if "vmgenid" in config:
            config["vmgenid"] = str(uuid.uuid4())
        vm.config = config
        vm.pending, vm.pending_delete = {}, []
        if snap.get("vmstate"):
            run(vm)  # started from the saved state inside the same task
        elif start_after:
            call.sim.tasks.spawn(call.node, "qmstart", str(vm.vmid), call.user, lambda _: run(vm))

    def cleanup(task: Task, error: str) -> None:
        vm = call.sim.cluster.vm_on(call.node, call.vmid)
        if vm is not None and vm.lock == "rollback":
            vm.config.pop("lock", None)

    tasks = call.sim.tasks
    return tasks.spawn(call.node, "qmrollback", str(call.vmid), call.user, work, cleanup=cleanup, begin=begin).upid
