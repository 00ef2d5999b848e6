"""QEMU guest configuration: config (GET, POST, PUT), pending and resize (qemu-server API2/Qemu.pm)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

from pvesim.cluster import Vm, drive_parts, drive_string, format_size, parse_size
from pvesim.errors import PveError, TaskError
from pvesim.routes.common import check_lock, config_missing, load_vm, task_check_lock, task_vm
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
