"""QEMU guest endpoints: list, clone, delete, status, template (qemu-server Qemu.pm); config lives in config.py."""

from __future__ import annotations

import uuid
from typing import Any

from pvesim.cluster import Vm, drive_parts, drive_string, random_mac
from pvesim.errors import PveError, TaskError
from pvesim.routes.common import (
    check_lock,
    config_missing,
    find_vm,
    load_vm,
    task_check_lock,
)
from pvesim.routes.config import DISK_RE
from pvesim.routing import Call, RouteTable
from pvesim.tasks import Task

table = RouteTable()


def _vm_entry(vm: Vm, full: bool) -> dict[str, Any]:
    running = vm.status == "running"
    entry: dict[str, Any] = {
        "vmid": vm.vmid,
        "name": vm.name,
        "status": vm.status,
        "cpus": vm.cpus,
        "maxmem": vm.memory_mib * 1024 * 1024,
        "maxdisk": vm.maxdisk,
        "mem": vm.memory_mib * 1024 * 512 if running else 0,
        "cpu": 0.02 if running else 0,
        "uptime": vm.uptime(),
        "netin": 0,
        "netout": 0,
        "diskread": 0,
        "diskwrite": 0,
    }
    if vm.is_template:
        entry["template"] = 1
    if vm.lock:
        entry["lock"] = vm.lock
    if running and vm.pid:
        entry["pid"] = vm.pid
    if "tags" in vm.config:
        entry["tags"] = vm.config["tags"]
    if full:
        entry["qmpstatus"] = vm.qmpstatus
    return entry


@table.route("GET", "/nodes/{node}/qemu")
def list_vms(call: Call) -> list[dict[str, Any]]:
    """List the VMs whose config lives on the node."""
    vms = sorted((vm for vm in call.sim.cluster.vms.values() if vm.node == call.node), key=lambda v: v.vmid)
    return [_vm_entry(vm, bool(call.params.get("full"))) for vm in vms]


# ---------------------------------------------------------------- clone


def _check_clone(call: Call, source: Vm, newid: int, full: bool) -> tuple[str, str | None]:
    """Run clone_vm's pre-fork checks; return the target node and storage."""
    cluster = call.sim.cluster
    params = call.params
    target = str(params.get("target") or call.node)
    storage = params.get("storage")
    if target not in cluster.nodes:
        raise PveError(500, f"no such cluster node '{target}'")
    if storage is not None and storage not in cluster.storages:
        raise PveError(500, f"storage '{storage}' does not exist")
    if target != call.node:
        for _, volume, _ in source.disks():
            if not cluster.storages[volume.split(":", 1)[0]].shared:
                raise PveError(500, f"can't clone VM to node '{target}' (VM uses local storage)")
        if storage is not None and not cluster.storages[storage].shared:
            raise PveError(500, f"can't clone to non-shared storage '{storage}'")
    check_lock(call, source)
    if "snapname" in params:
        raise PveError(500, f"snapshot '{params['snapname']}' does not exist")
    existing = cluster.vms.get(newid)
    if existing is not None:
        if existing.node == call.node:
            raise PveError(500, f"unable to create VM {newid}: config file already exists")
        raise PveError(500, f"unable to create VM {newid} - VM {newid} already exists on node '{existing.node}'")
    if not full:
        for opt in ("storage", "format"):
            if opt in params:
                raise PveError(500, f"parameter '{opt}' not allowed for linked clones")
        if not source.is_template:
            key, volume, _ = source.disks()[0]
            raise PveError(500, f"Linked clone feature is not supported for '{volume}' ({key})")
    return target, storage


def _cloned_config(source: Vm, newid: int, name: str, storage: str | None, full: bool, desc: Any) -> dict[str, Any]:
    config: dict[str, Any] = {}
    disk_index = 0
    for key, value in source.config.items():
        if key in ("template", "lock", "parent", "snaptime", "vmstate") or key.startswith("unused"):
            continue
        if key.startswith("net"):
            model_mac, _, rest = str(value).partition(",")
            model = model_mac.split("=", 1)[0]
            value = f"{model}={random_mac()}" + (f",{rest}" if rest else "")
        elif DISK_RE.match(key):
            volume, options = drive_parts(str(value))
            src_storage, _, src_name = volume.partition(":")
            if options.get("media") == "cdrom":
                if src_name.endswith("-cloudinit"):
                    value = drive_string(f"{storage or src_storage}:vm-{newid}-cloudinit", options)
            elif full:
                value = drive_string(f"{storage or src_storage}:vm-{newid}-disk-{disk_index}", options)
                disk_index += 1
            else:
                value = drive_string(f"{src_storage}:{src_name}/vm-{newid}-disk-{disk_index}", options)
                disk_index += 1
        config[key] = value
    config["name"] = name
    config["smbios1"] = f"uuid={uuid.uuid4()}"
    if "vmgenid" in config:
        config["vmgenid"] = str(uuid.uuid4())
    if desc is not None:
        config["description"] = desc
    return config


@table.route("POST", "/nodes/{node}/qemu/{vmid}/clone")
def clone(call: Call) -> str:
    """Clone a VM or template; the new VM holds `lock: clone` until the task ends."""
    cluster = call.sim.cluster
    source = find_vm(call)
    newid = int(call.params["newid"])
    full = bool(call.params.get("full", 0 if source.is_template else 1))
    target, storage = _check_clone(call, source, newid, full)
    name = str(call.params.get("name") or f"Copy-of-VM-{source.name}")
    # The temporary config that exists while the clone runs ("# qmclone temporary file").
    cluster.vms[newid] = Vm(vmid=newid, node=call.node, config={"lock": "clone"})
    kind = "full" if full else "linked"
    lines = [f"create {kind} clone of drive {key} ({volume})" for key, volume, _ in source.disks()]
    node = call.node
    description = call.params.get("description")

    def work(task: Task) -> None:
        if cluster.nodes[node].out_of_memory:
            raise TaskError("clone failed: cannot allocate memory")
        if cluster.vms.get(source.vmid) is not source:
            raise TaskError(f"clone failed: {config_missing(node, source.vmid)}")
        new_vm = cluster.vms[newid]
        new_vm.config = _cloned_config(source, newid, name, storage, full, description)
        new_vm.node = target
        if target != node:
            task.log.append(f"moving config to target node '{target}'")

    def cleanup(task: Task, error: str) -> None:
        vm = cluster.vms.get(newid)
        if vm is not None and vm.lock == "clone":
            del cluster.vms[newid]

    task = call.sim.tasks.spawn(node, "qmclone", str(source.vmid), call.user, work, cleanup=cleanup, first_lines=lines)
    return task.upid


# ---------------------------------------------------------------- delete


@table.route("DELETE", "/nodes/{node}/qemu/{vmid}")
def destroy(call: Call) -> str:
    """Destroy a stopped VM in a `qmdestroy` task."""
    cluster = call.sim.cluster
    vm = load_vm(call)
    if vm.status == "running":
        raise PveError(500, f"VM {vm.vmid} is running - destroy failed")
    if vm.config.get("protection"):
        raise PveError(500, f"can't remove VM {vm.vmid} - protection mode enabled")

    def work(task: Task) -> None:
        current = cluster.vms.get(vm.vmid)
        if current is not vm:
            raise TaskError(config_missing(call.node, vm.vmid))
        task_check_lock(call, vm)
        if vm.is_template:
            for _, volume, _ in vm.disks():
                base = volume.split(":", 1)[1]
                users = [
                    other
                    for other in cluster.vms.values()
                    if other is not vm and any(v.split(":", 1)[-1].startswith(base + "/") for _, v, _ in other.disks())
                ]
                if users:
                    raise TaskError(f"base volume '{volume}' is still in use by linked clones")
        for _, volume, _ in vm.disks():
            task.log.append(f'  Logical volume "{volume.split(":", 1)[-1].split("/")[-1]}" successfully removed.')
        del cluster.vms[vm.vmid]

    return call.sim.tasks.spawn(call.node, "qmdestroy", str(vm.vmid), call.user, work).upid


# ---------------------------------------------------------------- status


@table.route("GET", "/nodes/{node}/qemu/{vmid}/status")
def status_index(call: Call) -> list[dict[str, str]]:
    """List the status subdirectories."""
    return [
        {"subdir": name} for name in ("current", "start", "stop", "reset", "shutdown", "suspend", "reboot", "resume")
    ]


@table.route("GET", "/nodes/{node}/qemu/{vmid}/status/current")
def status_current(call: Call) -> dict[str, Any]:
    """Return run state, qmpstatus, resources and uptime (Qemu.pm `vm_status`)."""
    vm = load_vm(call)
    data = _vm_entry(vm, full=True)
    data["ha"] = {"managed": 0}
    agent = str(vm.config.get("agent", "0"))
    data["agent"] = 1 if agent.split(",")[0] in ("1", "enabled=1") else 0
    if "serial0" in vm.config:
        data["serial"] = 1
    if str(vm.config.get("vga", "")).startswith("qxl"):
        data["spice"] = 1
    if vm.status == "running":
        data["running-machine"] = "pc-i440fx-9.2+pve1"
        data["running-qemu"] = "9.2.0"
    return data


# ---------------------------------------------------------------- template


@table.route("POST", "/nodes/{node}/qemu/{vmid}/template")
def make_template(call: Call) -> str:
    """Convert a stopped VM into a template (disks become base-<vmid>-disk-N)."""
    vm = load_vm(call)
    check_lock(call, vm)
    if vm.is_template:
        raise PveError(500, "you can't convert a template to a template")
    if vm.status == "running":
        raise PveError(500, "you can't convert a VM to template if VM is running")

    def work(task: Task) -> None:
        for key, value in list(vm.config.items()):
            if DISK_RE.match(key) and "media=cdrom" not in str(value):
                vm.config[key] = str(value).replace(f"vm-{vm.vmid}-disk-", f"base-{vm.vmid}-disk-")
        vm.config["template"] = 1

    return call.sim.tasks.spawn(call.node, "qmtemplate", str(vm.vmid), call.user, work).upid
