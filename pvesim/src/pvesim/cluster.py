"""Live cluster state: nodes, storages, VMs and tasks, with an optional JSON state file."""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import secrets
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pvesim.config import GIB, SimConfig, StorageSpec, TemplateSpec

MIB = 1024**2
NODE_BASE_MEMORY = 2 * GIB
DISK_KEY = re.compile(r"^(ide|sata|scsi|virtio)\d+$|^efidisk0$|^tpmstate0$")
SIZE_SUFFIX = {"": 1, "K": 1024, "M": MIB, "G": GIB, "T": 1024 * GIB}


def parse_size(text: str) -> int:
    """Parse a PVE size like `10G` or `512M` into bytes (JSONSchema `parse_size`)."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT]?)", text)
    if match is None:
        raise ValueError(f"invalid size '{text}'")
    return int(float(match.group(1)) * SIZE_SUFFIX[match.group(2)])


def format_size(size: int) -> str:
    """Render bytes as PVE does in a drive's `size=` (JSONSchema `format_size`)."""
    for unit, factor in (("T", 1024 * GIB), ("G", GIB), ("M", MIB), ("K", 1024)):
        if size % factor == 0:
            return f"{size // factor}{unit}"
    return str(size)


def random_mac() -> str:
    """Return a MAC in Proxmox's default OUI BC:24:11."""
    return "BC:24:11:" + ":".join(f"{random.randint(0, 255):02X}" for _ in range(3))


def drive_parts(value: str) -> tuple[str, dict[str, str]]:
    """Split a drive property string into its volume and its options."""
    parts = value.split(",")
    volume = parts[0].split("=", 1)[1] if parts[0].startswith("file=") else parts[0]
    options = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
    return volume, options


def drive_string(volume: str, options: dict[str, str]) -> str:
    """Join a drive volume and options back into a property string."""
    return ",".join([volume, *(f"{k}={v}" for k, v in options.items())])


@dataclass
class NodeState:
    """A node: capacity, online flag and injected memory exhaustion."""

    name: str
    cpus: int
    memory: int
    online: bool = True
    out_of_memory: bool = False
    boot_time: float = field(default_factory=time.time)


@dataclass
class Vm:
    """A QEMU guest: its config (typed as the schema), pending changes and run state."""

    vmid: int
    node: str
    config: dict[str, Any]
    pending: dict[str, Any] = field(default_factory=dict)
    pending_delete: list[str] = field(default_factory=list)
    status: str = "stopped"
    qmpstatus: str = "stopped"
    started_at: float | None = None
    pid: int | None = None
    # Snapshot sections of the config file, by name (QemuConfig: `[snapname]` sections).
    snapshots: dict[str, dict[str, Any]] = field(default_factory=dict)
    # When pvestatd first wrote the VM's RRD file (it pushes every 10 s; RRD.pm, pvestatd.pm).
    created_at: float = field(default_factory=time.time)

    @property
    def lock(self) -> str | None:
        """Return the config lock, if any."""
        value = self.config.get("lock")
        return str(value) if value is not None else None

    @property
    def is_template(self) -> bool:
        """Return True for `template: 1`."""
        return bool(self.config.get("template"))

    @property
    def name(self) -> str:
        """Return the VM name (PVE falls back to `VM <vmid>`)."""
        return str(self.config.get("name", f"VM {self.vmid}"))

    @property
    def memory_mib(self) -> int:
        """Return the configured memory in MiB."""
        value = str(self.config.get("memory", "512"))
        return int(value.split("=", 1)[1] if value.startswith("current=") else value.split(",")[0])

    @property
    def cpus(self) -> int:
        """Return sockets * cores (or vcpus)."""
        if "vcpus" in self.config:
            return int(self.config["vcpus"])
        return int(self.config.get("sockets", 1)) * int(self.config.get("cores", 1))

    def disks(self) -> list[tuple[str, str, int]]:
        """Return (key, volume, size in bytes) for every disk, cdroms excluded."""
        result = []
        for key, value in self.config.items():
            if not DISK_KEY.match(key):
                continue
            volume, options = drive_parts(str(value))
            if options.get("media") == "cdrom" or volume == "none":
                continue
            result.append((key, volume, parse_size(options.get("size", "0"))))
        return result

    @property
    def maxdisk(self) -> int:
        """Return the size of the boot disk (the first disk), as PVE's status does."""
        disks = self.disks()
        return disks[0][2] if disks else 0

    def uptime(self) -> int:
        """Return seconds since start, 0 when stopped."""
        return int(time.time() - self.started_at) if self.started_at and self.status == "running" else 0

    def digest(self) -> str:
        """Return the sha1 of the config file text, pending section included."""
        lines = [f"{k}: {v}" for k, v in sorted(self.config.items())]
        if self.pending or self.pending_delete:
            lines.append("[PENDING]")
            lines += [f"{k}: {v}" for k, v in sorted(self.pending.items())]
            if self.pending_delete:
                lines.append("delete: " + ",".join(self.pending_delete))
        return hashlib.sha1("\n".join(lines).encode(), usedforsecurity=False).hexdigest()

    def apply_pending(self) -> None:
        """Move pending changes into the config (what a stop/start does)."""
        self.config.update(self.pending)
        for key in self.pending_delete:
            self.config.pop(key, None)
        self.pending = {}
        self.pending_delete = []


def template_config(spec: TemplateSpec) -> dict[str, Any]:
    """Return the config of a cloud-init ready template VM."""
    return {
        "name": spec.name,
        "template": 1,
        "ostype": "l26",
        "cores": spec.cores,
        "sockets": 1,
        "cpu": "x86-64-v2-AES",
        "memory": str(spec.memory),
        "scsihw": "virtio-scsi-single",
        "scsi0": f"{spec.storage}:base-{spec.vmid}-disk-0,iothread=1,size={spec.disk_size}",
        "ide2": f"{spec.storage}:vm-{spec.vmid}-cloudinit,media=cdrom",
        "boot": "order=scsi0",
        "net0": f"virtio={random_mac()},bridge=vmbr0",
        "serial0": "socket",
        "smbios1": f"uuid={uuid.uuid4()}",
        "vmgenid": str(uuid.uuid4()),
        "meta": f"creation-qemu=9.2.0,ctime={int(time.time())}",
        "description": f"pvesim template for {spec.os}",
        **({"agent": spec.agent} if spec.agent is not None else {}),
    }


class Cluster:
    """The whole simulated cluster; mutated only on the server's event loop."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.nodes: dict[str, NodeState] = {
            n.name: NodeState(name=n.name, cpus=n.cpus, memory=n.memory, online=n.online) for n in config.nodes
        }
        self.storages: dict[str, StorageSpec] = {s.name: s for s in config.storages}
        self.vms: dict[int, Vm] = {}
        self.dhcp_leases: dict[str, str] = {}  # MAC (upper case) -> IPv4 address leased by the simulated DHCP
        # Backup archives by volid (`<storage>:backup/<file>`), with the config they hold.
        self.backups: dict[str, dict[str, Any]] = {}
        self.secret = secrets.token_bytes(32)
        self.pid_counter = random.randint(100_000, 200_000)
        self.dirty = False
        for spec in config.templates or []:
            self.vms[spec.vmid] = Vm(vmid=spec.vmid, node=spec.node, config=template_config(spec))

    @property
    def entry_node(self) -> str:
        """Return the node clients talk to."""
        return self.config.entry_node or next(iter(self.nodes))

    def next_pid(self) -> int:
        """Return a fresh fake process id."""
        self.pid_counter += 1
        return self.pid_counter

    def vm_on(self, node: str, vmid: int) -> Vm | None:
        """Return the VM if its config lives on `node`."""
        vm = self.vms.get(vmid)
        return vm if vm is not None and vm.node == node else None

    def templates(self) -> list[Vm]:
        """Return all template VMs."""
        return [vm for vm in self.vms.values() if vm.is_template]

    def next_free_id(self) -> int | None:
        """Return the lowest free VMID in the configured range."""
        vmid = self.config.next_id_lower
        while vmid < self.config.next_id_upper:
            if vmid not in self.vms:
                return vmid
            vmid += 1
        return None

    def storage_used(self, storage: str, node: str | None) -> int:
        """Return bytes used on a storage (on one node unless shared)."""
        spec = self.storages[storage]
        used = 0
        for vm in self.vms.values():
            if not spec.shared and vm.node != node:
                continue
            for _, volume, size in vm.disks():
                if volume.startswith(f"{storage}:") and "/" not in volume:
                    used += size
        return used

    def storage_on_node(self, storage: str, node: str) -> bool:
        """Return True if the storage is configured on the node."""
        spec = self.storages.get(storage)
        return spec is not None and (not spec.nodes or node in spec.nodes)

    def node_memory_used(self, node: str) -> int:
        """Return used memory on a node: a base plus running guests (or all of it when out of memory)."""
        state = self.nodes[node]
        if state.out_of_memory:
            return state.memory - 64 * MIB
        running = sum(vm.memory_mib * MIB for vm in self.vms.values() if vm.node == node and vm.status == "running")
        return min(state.memory, NODE_BASE_MEMORY + running)

    def to_json(self) -> dict[str, Any]:
        """Serialise nodes and VMs for the state file."""
        return {
            "nodes": {name: asdict(n) for name, n in self.nodes.items()},
            "vms": [asdict(vm) for vm in self.vms.values()],
            "dhcp_leases": self.dhcp_leases,
            "backups": self.backups,
            "secret": self.secret.hex(),
        }

    def load_json(self, data: dict[str, Any]) -> None:
        """Replace nodes and VMs with those from a state file."""
        for name, node in data.get("nodes", {}).items():
            self.nodes[name] = NodeState(**node)
        self.vms = {vm["vmid"]: Vm(**vm) for vm in data.get("vms", [])}
        self.dhcp_leases = dict(data.get("dhcp_leases", {}))
        self.backups = dict(data.get("backups", {}))
        if "secret" in data:
            self.secret = bytes.fromhex(data["secret"])

    def save(self, path: Path, tasks: list[dict[str, Any]]) -> None:
        """Write the state file atomically."""
        payload = self.to_json()
        payload["tasks"] = tasks
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(payload, indent=1), encoding="utf-8")
        os.replace(tmp, path)
        self.dirty = False
