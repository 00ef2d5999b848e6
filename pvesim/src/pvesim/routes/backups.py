"""Backups: `vzdump`, the archives in storage content, deleting one, and restore through `POST /nodes/{node}/qemu`
with `archive` (pve-manager API2/VZDump.pm + VZDump.pm, pve-storage API2/Storage/Content.pm + Plugin.pm,
qemu-server Qemu.pm `create_vm`; notes pve-behaviour-2.md §4)."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from pvesim.cluster import DISK_KEY, Vm, drive_parts, drive_string, random_mac
from pvesim.errors import PveError, TaskError, param_error
from pvesim.routes.common import locked
from pvesim.routes.power import run
from pvesim.routing import Call, RouteTable
from pvesim.tasks import Task

table = RouteTable()

NOTES_VARIABLES = {"cluster", "guestname", "node", "vmid"}
# Keys of the backed-up config a restore does not keep (the lock; snapshots are not in a backup).
NOT_RESTORED = {"lock", "parent"}


def _storage_for_backups(call: Call, storage: str) -> str | None:
    spec = call.sim.cluster.storages.get(storage)
    if spec is None:
        return f"could not get storage information for '{storage}': storage '{storage}' does not exist"
    if "backup" not in spec.content.split(","):
        return (
            f"could not get storage information for '{storage}': "
            f"can't use storage '{storage}' for backups - wrong content type"
        )
    return None


def _check_notes_template(template: str) -> None:
    for match in re.finditer(r"\{\{([^}]*)\}\}", template):
        if match.group(1) not in NOTES_VARIABLES:
            raise param_error({"notes-template": f"found unknown: variable '{match.group(1)}' at char {match.start()}"})


def _archive_name(vmid: int, started: int, compress: str) -> str:
    stamp = time.strftime("%Y_%m_%d-%H_%M_%S", time.localtime(started))  # node local time (VZDump.pm)
    suffix = {"0": "", "1": ".lzo", "gzip": ".gz", "lzo": ".lzo", "zstd": ".zst"}[compress]
    return f"vzdump-qemu-{vmid}-{stamp}.vma{suffix}"


@table.route("POST", "/nodes/{node}/vzdump")
def vzdump(call: Call) -> str:
    """Back up guests in one `vzdump` task (id = the vmid for a single local guest)."""
    params = call.params
    if params.get("stdout"):
        raise param_error({"stdout": "option is only allowed on the command line interface."})
    if "vmid" not in params and not params.get("all") and "pool" not in params:
        raise param_error({"vmid": "property is missing and it is not optional"})
    if "notes-template" in params:
        _check_notes_template(str(params["notes-template"]))
    cluster = call.sim.cluster
    vmids = [int(v) for v in re.split(r"[,;\s]+", str(params.get("vmid", ""))) if v]
    local = [v for v in vmids if v not in cluster.vms or cluster.vms[v].node == call.node]
    if vmids and not local:
        return "OK"  # every listed guest lives elsewhere: no task at all (VZDump.pm `return "OK"`)
    storage = str(params.get("storage", "local"))
    mode = str(params.get("mode", "snapshot"))
    compress = str(params.get("compress", "0"))
    task_id = str(local[0]) if len(local) == 1 else ""
    options = " ".join(f"--{k} {v}" for k, v in params.items() if k not in ("node", "vmid"))
    taken: dict[int, tuple[Vm, str, str]] = {}  # vmid -> (vm, status before, qmpstatus before)
    errors: list[str] = []

    def begin(task: Task) -> None:
        task.log.append(
            f"INFO: starting new backup job: vzdump {' '.join(map(str, local))} {options} --node {call.node}"
        )
        refusal = _storage_for_backups(call, storage)
        for vmid in local:
            task.log.append(f"INFO: Starting Backup of VM {vmid} (qemu)")
            vm = cluster.vms.get(vmid)
            problem = refusal or (f"unable to find VM '{vmid}'" if vm is None else None)
            if vm is not None and problem is None and vm.lock:
                problem = locked(vm)
            if problem is not None or vm is None:
                task.log.append(f"ERROR: Backup of VM {vmid} failed - {problem}")
                errors.append(str(vmid))
                continue
            task.log.append(f"INFO: status = {vm.status}")
            vm.config["lock"] = "backup"
            taken[vmid] = (vm, vm.status, vm.qmpstatus)
            task.log.append(f"INFO: backup mode: {'stop' if vm.status != 'running' else mode}")
            if vm.status != "running":
                # A stopped VM gets a paused QEMU for the backup (VZDump/QemuServer enforce_vm_running_for_backup).
                task.log.append("INFO: starting kvm to execute backup task")
                vm.status, vm.qmpstatus = "running", "prelaunch"
            name = _archive_name(vmid, task.starttime, compress)
            task.log.append(f"INFO: creating vzdump archive '/var/lib/vz/dump/{name}'")
        if not taken:
            task.log.append("INFO: Backup job finished with errors")
            raise TaskError("job errors")

    def work(task: Task) -> None:
        for vmid, (vm, status, qmpstatus) in taken.items():
            name = _archive_name(vmid, task.starttime, compress)
            volid = f"{storage}:backup/{name}"
            disks = sum(size for _, _, size in vm.disks())
            cluster.backups[volid] = {
                "volid": volid, "vmid": vmid, "node": call.node, "storage": storage, "ctime": task.starttime,
                "format": name.split(".", 1)[1], "size": max(4096, disks // 10),
                "config": {k: v for k, v in vm.config.items() if k != "lock"},
            }  # fmt: skip
            if "notes-template" in params:
                cluster.backups[volid]["notes"] = _notes(str(params["notes-template"]), call, vm)
            if params.get("protected"):
                cluster.backups[volid]["protected"] = 1
            _release(vm, status, qmpstatus)
            task.log.append(f"INFO: archive file size: {cluster.backups[volid]['size'] / 1024**3:.2f}GB")
            task.log.append(f"INFO: Finished Backup of VM {vmid} (00:00:01)")
        if errors:
            task.log.append("INFO: Backup job finished with errors")
            raise TaskError("job errors")
        task.log.append("INFO: Backup job finished successfully")

    def cleanup(task: Task, error: str) -> None:
        for vm, status, qmpstatus in taken.values():
            if vm.lock == "backup":
                _release(vm, status, qmpstatus)

    return call.sim.tasks.spawn(call.node, "vzdump", task_id, call.user, work, cleanup=cleanup, begin=begin).upid


def _release(vm: Vm, status: str, qmpstatus: str) -> None:
    vm.config.pop("lock", None)
    vm.status, vm.qmpstatus = status, qmpstatus


def _notes(template: str, call: Call, vm: Vm) -> str:
    values = {"cluster": call.sim.config.cluster_name, "guestname": vm.name, "node": call.node, "vmid": str(vm.vmid)}
    text = re.sub(r"\{\{(\w+)\}\}", lambda m: values[m.group(1)], template)
    return text.replace("\\n", "\n").replace("\\\\", "\\")


def _reachable(call: Call, backup: dict[str, Any]) -> bool:
    storage = call.sim.cluster.storages.get(str(backup["storage"]))
    return storage is not None and (storage.shared or backup["node"] == call.node)


@table.route("GET", "/nodes/{node}/storage/{storage}/content")
def storage_content(call: Call) -> list[dict[str, Any]]:
    """Backups (and VM disk images) on a storage as this node sees it, filtered by `content` and `vmid`."""
    cluster = call.sim.cluster
    storage = str(call.params["storage"])
    if not cluster.storage_on_node(storage, call.node):
        raise PveError(500, f"storage '{storage}' does not exist")
    content = call.params.get("content")
    vmid = call.params.get("vmid")
    result: list[dict[str, Any]] = []
    if content in (None, "backup"):
        for backup in cluster.backups.values():
            if backup["storage"] != storage or not _reachable(call, backup):
                continue
            if vmid is not None and backup["vmid"] != int(vmid):
                continue
            entry = {key: backup[key] for key in ("volid", "vmid", "ctime", "format", "size")}
            entry.update(content="backup", subtype="qemu")
            if "notes" in backup:
                entry["notes"] = str(backup["notes"]).split("\n", 1)[0]
            if backup.get("protected"):
                entry["protected"] = 1
            result.append(entry)
    if content in (None, "images"):
        for vm in cluster.vms.values():
            if vmid is not None and vm.vmid != int(vmid):
                continue
            for _, volume, size in vm.disks():
                if volume.startswith(f"{storage}:") and (vm.node == call.node or cluster.storages[storage].shared):
                    result.append({"volid": volume, "vmid": vm.vmid, "format": "raw", "size": size,
                                   "content": "images"})  # fmt: skip
    return sorted(result, key=lambda e: str(e["volid"]))


@table.route("DELETE", "/nodes/{node}/storage/{storage}/content/{volume}")
def delete_volume(call: Call) -> str:
    """Delete a backup archive in an `imgdel` task (the volume may be named with or without its storage)."""
    storage = str(call.params["storage"])
    volume = str(call.params["volume"])
    volid = volume if ":" in volume else f"{storage}:{volume}"
    backup = call.sim.cluster.backups.get(volid)
    if backup is None or not _reachable(call, backup):
        raise PveError(500, f"volume '{volid}' does not exist")  # text not verified against pve-storage
    if backup.get("protected"):
        raise PveError(500, f"volume '{volid}' is protected")  # text not verified against pve-storage

    def work(task: Task) -> None:
        call.sim.cluster.backups.pop(volid, None)
        task.log.append(f"Removed volume '{volid}'")

    return call.sim.tasks.spawn(call.node, "imgdel", "", call.user, work).upid


def _restored_config(backup: dict[str, Any], vmid: int, storage: str | None, unique: bool) -> dict[str, Any]:
    config: dict[str, Any] = {}
    index = 0
    for key, value in backup["config"].items():
        if key in NOT_RESTORED:
            continue
        if DISK_KEY.match(key):
            volume, options = drive_parts(str(value))
            target = storage or volume.split(":", 1)[0]
            if options.get("media") == "cdrom":
                if volume.endswith("-cloudinit"):
                    value = drive_string(f"{target}:vm-{vmid}-cloudinit", options)
            elif volume != "none":
                value = drive_string(f"{target}:vm-{vmid}-disk-{index}", options)
                index += 1
        elif unique and key.startswith("net"):
            model_mac, _, rest = str(value).partition(",")
            value = f"{model_mac.split('=', 1)[0]}={random_mac()}" + (f",{rest}" if rest else "")
        config[key] = value
    if unique:
        config["smbios1"] = f"uuid={uuid.uuid4()}"
    if "vmgenid" in config:
        config["vmgenid"] = str(uuid.uuid4())
    return config


# Parameters of create_vm that steer a restore rather than set config keys.
RESTORE_CONTROL = {"node", "vmid", "archive", "force", "unique", "storage", "start", "bwlimit", "live-restore", "pool"}


@table.route("POST", "/nodes/{node}/qemu")
def create_vm(call: Call) -> str:
    """Restore a backup into a VMID (`qmrestore`; the config holds `lock: create` meanwhile)."""
    params = call.params
    if "archive" not in params:
        raise PveError(501, "pvesim: creating a VM without 'archive' is not simulated (CloudFaster clones templates)")
    conflicts = {k: "option conflicts with option 'archive'" for k in params if DISK_KEY.match(k)}
    if conflicts:
        raise param_error(conflicts)
    cluster = call.sim.cluster
    vmid, archive, force = call.vmid, str(params["archive"]), bool(params.get("force"))
    backup = cluster.backups.get(archive)
    if backup is None or not _reachable(call, backup):
        raise PveError(500, f"can't find file '{archive}'")
    existing = cluster.vms.get(vmid)
    if existing is not None and not force:
        raise PveError(500, f"unable to restore VM {vmid} - VM {vmid} already exists on node '{existing.node}'")
    if existing is not None and existing.lock:
        raise PveError(500, f"unable to restore VM {vmid} - {locked(existing)}")
    if existing is None:
        cluster.vms[vmid] = Vm(vmid=vmid, node=call.node, config={"lock": "create"})
    else:
        existing.config["lock"] = "create"
    vm = cluster.vms[vmid]
    overrides = {k: v for k, v in params.items() if k not in RESTORE_CONTROL}
    storage = params.get("storage")

    def begin(task: Task) -> None:
        task.log.append(f"restore vma archive: zstd -q -d -c /var/lib/vz/dump/{archive.split('/', 1)[-1]}")
        refusal = None
        if existing is not None and existing.config.get("protection"):
            refusal = f"unable to restore VM {vmid} - - protection mode enabled"  # sic, PVE's double dash
        elif existing is not None and existing.status == "running":
            refusal = f"unable to restore VM {vmid} - vm is running"
        if refusal is not None:
            vm.config.pop("lock", None)
            raise TaskError(refusal)

    def work(task: Task) -> None:
        config = _restored_config(backup, vmid, None if storage is None else str(storage), bool(params.get("unique")))
        config.update(overrides)
        vm.config = config
        vm.snapshots, vm.pending, vm.pending_delete = {}, {}, []
        task.log.append("rescan volumes...")
        if params.get("start"):
            task.log.append("Execute autostart")
            call.sim.tasks.spawn(call.node, "qmstart", str(vmid), call.user, lambda _: run(vm))

    def cleanup(task: Task, error: str) -> None:
        if vm.lock == "create":  # the lock goes; what the failed restore left stays (Qemu.pm create_vm)
            vm.config.pop("lock", None)

    return call.sim.tasks.spawn(call.node, "qmrestore", str(vmid), call.user, work, cleanup=cleanup, begin=begin).upid
