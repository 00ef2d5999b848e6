"""QEMU guest endpoints: list, clone, config, pending, resize, delete, status, template (qemu-server Qemu.pm)."""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import unquote

from pvesim.cluster import Vm, drive_parts, drive_string, format_size, parse_size, random_mac
from pvesim.errors import PveError, TaskError
from pvesim.routes.common import (
    check_lock,
    config_missing,
    find_vm,
    load_vm,
    task_check_lock,
    task_vm,
)
from pvesim.routing import Call, RouteTable
from pvesim.tasks import Task

table = RouteTable()

# Parameters of config POST/PUT that are not config keys.
CONTROL_PARAMS = {"node", "vmid", "digest", "delete", "revert", "skiplock", "force", "background_delay"}
# Keys applied at once even while running (QemuServer.pm $fast_plug_option).
FAST_PLUG = {"name", "description", "onboot", "protection", "tags", "startup", "hookscript", "lock", "vmstatestorage"}
DISK_RE = re.compile(r"^(ide|sata|scsi|virtio)\d+$|^efidisk0$|^tpmstate0$")
NEW_VOLUME_RE = re.compile(r"^([a-z][a-z0-9\-_.]*[a-z0-9]):(\d+(?:\.\d+)?|cloudinit)$")
SSH_KEY_RE = re.compile(
    r"^(ssh-(rsa|dss|ed25519)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com)"
    r" [A-Za-z0-9+/]+={0,3}( .*)?$"
)


def _split(value: Any) -> list[str]:
    return [p for p in re.split(r"[,;\s]+", str(value or "")) if p]


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


# ---------------------------------------------------------------- config


def _config_view(vm: Vm, current: bool) -> dict[str, Any]:
    config = dict(vm.config)
    if not current:
        config.update(vm.pending)
        for key in vm.pending_delete:
            config.pop(key, None)
    if "cipassword" in config:
        config["cipassword"] = "**********"
    config["digest"] = vm.digest()
    return config


@table.route("GET", "/nodes/{node}/qemu/{vmid}/config")
def get_config(call: Call) -> dict[str, Any]:
    """Return the config with pending changes merged in (unless `current=1`)."""
    vm = load_vm(call)
    if "snapshot" in call.params:
        raise PveError(500, f"snapshot '{call.params['snapshot']}' does not exist")
    return _config_view(vm, bool(call.params.get("current")))


@table.route("GET", "/nodes/{node}/qemu/{vmid}/pending")
def get_pending(call: Call) -> list[dict[str, Any]]:
    """Return config keys with their current and pending values."""
    vm = load_vm(call)
    result: list[dict[str, Any]] = []
    for key in sorted(set(vm.config) | set(vm.pending)):
        # Values come straight from the parsed config file, so they are strings (Qemu.pm `vm_pending`).
        entry: dict[str, Any] = {"key": key}
        if key in vm.config:
            entry["value"] = "**********" if key == "cipassword" else str(vm.config[key])
        if key in vm.pending:
            entry["pending"] = "**********" if key == "cipassword" else str(vm.pending[key])
        if key in vm.pending_delete:
            entry["delete"] = 1
        result.append(entry)
    return result


def _check_update(call: Call) -> tuple[Vm, dict[str, Any], list[str], list[str]]:
    """Run update_vm_api's pre-fork checks; return the VM, changes, deletions and reverts."""
    params = call.params
    vm = load_vm(call)
    changes = {k: v for k, v in params.items() if k not in CONTROL_PARAMS}
    deletes = _split(params.get("delete"))
    reverts = _split(params.get("revert"))
    for opt in deletes:
        if call.endpoint.lookup(opt) is None or opt in CONTROL_PARAMS:
            raise PveError(400, "Parameter verification failed.", {"delete": f"unknown option '{opt}'"})
        if opt in changes:
            raise PveError(
                400,
                "Parameter verification failed.",
                {"delete": f"you can't use '-{opt}' and -delete {opt}' at the same time"},
            )
    if not changes and not deletes and not reverts:
        raise PveError(500, "no options specified")
    digest = params.get("digest")
    if digest and digest != vm.digest():
        # pve-common Tools.pm assert_if_modified
        raise PveError(500, "detected modified configuration - file changed by other user? Try again.")
    check_lock(call, vm)
    if "sshkeys" in changes:
        for line in unquote(str(changes["sshkeys"])).splitlines():
            if line.strip() and not SSH_KEY_RE.match(line.strip()):
                raise PveError(500, "SSH public key validation error")
    if "balloon" in changes:
        memory = changes.get("memory", vm.pending.get("memory", vm.config.get("memory", "512")))
        mib = int(str(memory).removeprefix("current=").split(",")[0])
        if int(changes["balloon"]) > mib:
            raise PveError(500, "balloon value too large (must be smaller than assigned memory)")
    return vm, changes, deletes, reverts


def _hotpluggable(vm: Vm, key: str) -> bool:
    if key in FAST_PLUG:
        return True
    hotplug = str(vm.config.get("hotplug", "network,disk,usb"))
    features = set(hotplug.split(",")) if hotplug not in ("1", "0") else set()
    if hotplug == "1":
        features = {"network", "disk", "usb", "cpu", "memory"}
    if key.startswith("net"):
        return "network" in features
    if DISK_RE.match(key):
        return "disk" in features and "media=cdrom" not in str(vm.config.get(key, ""))
    if key == "vcpus":
        return "cpu" in features
    if key == "memory":
        return "memory" in features
    return False


def _allocate(vm: Vm, key: str, value: Any) -> Any:
    """Turn `STORAGE:SIZE` or `STORAGE:cloudinit` into a volume of this VM."""
    if not DISK_RE.match(key):
        return value
    volume, options = drive_parts(str(value))
    match = NEW_VOLUME_RE.match(volume)
    if match is None:
        return value
    storage, size = match.groups()
    if size == "cloudinit":
        options = {"media": "cdrom", **options}
        return drive_string(f"{storage}:vm-{vm.vmid}-cloudinit", options)
    used = {drive_parts(str(v))[0] for v in vm.config.values()}
    index = 0
    while any(u.endswith(f"vm-{vm.vmid}-disk-{index}") for u in used):
        index += 1
    options["size"] = format_size(parse_size(size + "G"))
    return drive_string(f"{storage}:vm-{vm.vmid}-disk-{index}", options)


def _apply_update(vm: Vm, changes: dict[str, Any], deletes: list[str], reverts: list[str]) -> None:
    for key in reverts:
        vm.pending.pop(key, None)
        if key in vm.pending_delete:
            vm.pending_delete.remove(key)
    running = vm.status == "running"
    for key, value in changes.items():
        value = _allocate(vm, key, value)
        if running and not _hotpluggable(vm, key):
            vm.pending[key] = value
            if key in vm.pending_delete:
                vm.pending_delete.remove(key)
        else:
            vm.config[key] = value
            vm.pending.pop(key, None)
    for key in deletes:
        if running and not _hotpluggable(vm, key):
            if key not in vm.pending_delete:
                vm.pending_delete.append(key)
            vm.pending.pop(key, None)
        else:
            vm.config.pop(key, None)
            vm.pending.pop(key, None)


@table.route("POST", "/nodes/{node}/qemu/{vmid}/config")
def post_config(call: Call) -> str | None:
    """Change the config asynchronously (a `qmconfig` task)."""
    vm, changes, deletes, reverts = _check_update(call)

    def work(task: Task) -> None:
        _apply_update(vm, changes, deletes, reverts)

    delay = call.params.get("background_delay")
    duration = call.sim.config.task_duration("qmconfig")
    if delay is not None and duration <= int(delay):
        call.sim.tasks.spawn(call.node, "qmconfig", str(vm.vmid), call.user, work, duration=0)
        return None
    return call.sim.tasks.spawn(call.node, "qmconfig", str(vm.vmid), call.user, work).upid


@table.route("PUT", "/nodes/{node}/qemu/{vmid}/config")
def put_config(call: Call) -> None:
    """Change the config synchronously; running VMs get non-hotpluggable changes as pending."""
    vm, changes, deletes, reverts = _check_update(call)
    _apply_update(vm, changes, deletes, reverts)
    call.sim.mark_dirty()


# ---------------------------------------------------------------- resize


@table.route("PUT", "/nodes/{node}/qemu/{vmid}/resize")
def resize(call: Call) -> str:
    """Grow a disk in a `resize` task; every check runs inside the task (PVE >= 8.0)."""
    node, vmid = call.node, call.vmid
    disk = str(call.params["disk"])
    size_text = str(call.params["size"])
    digest = call.params.get("digest")

    def work(task: Task) -> None:
        vm = task_vm(call, config_missing(node, vmid))
        task_check_lock(call, vm)
        if digest and digest != vm.digest():
            raise TaskError("detected modified configuration - file changed by other user? Try again.")
        if disk not in vm.config:
            raise TaskError(f"disk '{disk}' does not exist")
        volume, options = drive_parts(str(vm.config[disk]))
        if options.get("media") == "cdrom":
            raise TaskError("you can't resize a cdrom")
        current = parse_size(options.get("size", "0"))
        grow = size_text.startswith("+")
        amount = parse_size(size_text.lstrip("+"))
        new_size = current + amount if grow else amount
        if new_size < current:
            raise TaskError("shrinking disks is not supported")
        if new_size == current:
            return
        options["size"] = format_size(new_size)
        vm.config[disk] = drive_string(volume, options)
        task.log.append(f"Size of logical volume pve/{volume.split(':', 1)[-1]} changed.")

    return call.sim.tasks.spawn(node, "resize", str(vmid), call.user, work).upid


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
