"""Simulator configuration: nodes, storages, templates, credentials and task durations."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

GIB = 1024**3

DEFAULT_OS = ("debian-12", "debian-13", "ubuntu-22.04", "ubuntu-24.04", "rocky-9")


@dataclass
class NodeSpec:
    """A cluster node and its capacity."""

    name: str
    cpus: int = 32
    memory: int = 128 * GIB
    online: bool = True


@dataclass
class StorageSpec:
    """A storage; `nodes` empty means every node has it."""

    name: str
    type: str = "lvmthin"
    content: str = "images,rootdir"
    shared: bool = False
    total: int = 2048 * GIB
    nodes: list[str] = field(default_factory=list)


@dataclass
class TemplateSpec:
    """A template VM (`template: 1`) for one OS on one node."""

    os: str
    node: str
    vmid: int
    storage: str = "local-lvm"
    disk_size: str = "10G"
    memory: int = 2048
    cores: int = 2
    # The template's `agent` option: "1" (the default), "0" (disabled) or None (no `agent` key at all).
    agent: str | None = "1"

    @property
    def name(self) -> str:
        """Return the VM name, e.g. `tpl-debian-12`."""
        return f"tpl-{self.os}"


@dataclass
class TokenSpec:
    """An API token `user!name` with its secret."""

    user: str = "root@pam"
    name: str = "cloudfaster"
    secret: str = "5b0f8a8e-5bc1-4b52-9a8f-1c6d2f0e7a11"  # noqa: S105 - well-known simulator default
    # Privilege separation (`pveum user token add --privsep`): the token's rights are the user's intersected with
    # its own ACLs (`acl`); without it the token has the user's rights.
    privsep: bool = False
    # ACL path -> privileges, propagated to sub-paths; root@pam ignores `user_acl` (root has every privilege).
    acl: dict[str, list[str]] = field(default_factory=dict)
    user_acl: dict[str, list[str]] = field(default_factory=dict)

    @property
    def token_id(self) -> str:
        """Return the full token id, e.g. `root@pam!cloudfaster`."""
        return f"{self.user}!{self.name}"


DEFAULT_TASK_DURATIONS: dict[str, float] = {
    "qmclone": 2.0,
    "qmstart": 1.0,
    "qmstop": 0.5,
    "qmshutdown": 1.0,
    "qmreboot": 1.0,
    "qmpause": 0.2,
    "qmsuspend": 0.5,
    "qmresume": 0.2,
    "qmreset": 0.2,
    "qmdestroy": 0.5,
    "qmconfig": 0.1,
    "resize": 0.5,
    "qmtemplate": 0.5,
    "qmcreate": 0.5,
    "vncproxy": 10.0,
    "qmsnapshot": 1.0,
    "qmdelsnapshot": 0.5,
    "qmrollback": 1.0,
    "vzdump": 3.0,
    "qmrestore": 3.0,
    "imgdel": 0.2,
}


def default_nodes() -> list[NodeSpec]:
    """Return sv1…sv5."""
    return [NodeSpec(name=f"sv{i}") for i in range(1, 6)]


def default_storages() -> list[StorageSpec]:
    """Return local (dir), local-lvm (lvmthin, per node) and a shared ceph pool."""
    return [
        StorageSpec(name="local", type="dir", content="iso,vztmpl,backup,snippets", total=100 * GIB),
        StorageSpec(name="local-lvm", type="lvmthin", content="images,rootdir", total=2048 * GIB),
        StorageSpec(name="ceph-vm", type="rbd", content="images,rootdir", shared=True, total=8192 * GIB),
    ]


def default_templates(nodes: list[NodeSpec]) -> list[TemplateSpec]:
    """Give node i every OS except one, at VMID 9000 + 10*(i-1) + OS index."""
    templates = []
    for i, node in enumerate(nodes):
        for j, os_name in enumerate(DEFAULT_OS):
            if (i + j) % len(DEFAULT_OS) == len(DEFAULT_OS) - 1:
                continue
            templates.append(TemplateSpec(os=os_name, node=node.name, vmid=9000 + 10 * i + j))
    return templates


@dataclass
class SimConfig:
    """Everything that defines a simulated cluster."""

    nodes: list[NodeSpec] = field(default_factory=default_nodes)
    storages: list[StorageSpec] = field(default_factory=default_storages)
    templates: list[TemplateSpec] | None = None
    tokens: list[TokenSpec] = field(default_factory=lambda: [TokenSpec()])
    root_password: str = "pvesim-root"  # noqa: S105 - well-known simulator default
    cluster_name: str = "pvesim"
    # The node a client talks to; requests for other nodes are "proxied" (PVE HTTPServer proxyto).
    entry_node: str | None = None
    task_durations: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_TASK_DURATIONS))
    default_task_duration: float = 0.5
    # pve-http-server AnyEvent.pm delays every 401 by 3 s.
    auth_failure_delay: float = 3.0
    # qemu-server Qemu.pm vncproxy/termproxy: the worker waits 10 s (`alarm 10`) for its one connection.
    console_accept_timeout: float = 10.0
    pve_version: str = "9.1.4"
    pve_release: str = "9.1"
    pve_repoid: str = "5f2a0c7e1b9d3a64"
    next_id_lower: int = 100
    next_id_upper: int = 1_000_000
    # How long after a start the guest agent answers `QEMU guest agent is not running` (the guest is booting).
    agent_start_delay: float = 5.0
    # Where the simulated DHCP server leases addresses to VMs whose ipconfigN says `ip=dhcp`.
    dhcp_network: str = "10.200.0.0/16"

    def __post_init__(self) -> None:
        if self.templates is None:
            self.templates = default_templates(self.nodes)

    def task_duration(self, kind: str) -> float:
        """Return the configured duration of a task type in seconds."""
        return self.task_durations.get(kind, self.default_task_duration)

    @classmethod
    def fast(cls) -> SimConfig:
        """Return the default cluster with zero-length tasks and no 401 delay (for tests)."""
        return cls(
            task_durations=dict.fromkeys(DEFAULT_TASK_DURATIONS, 0.0),
            default_task_duration=0.0,
            auth_failure_delay=0.0,
            agent_start_delay=0.0,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SimConfig:
        """Build a config from plain data (as loaded from YAML); unknown keys are an error."""
        data = dict(data)
        kwargs: dict[str, Any] = {}
        if "nodes" in data:
            kwargs["nodes"] = [NodeSpec(**n) for n in data.pop("nodes")]
        if "storages" in data:
            kwargs["storages"] = [StorageSpec(**s) for s in data.pop("storages")]
        if "templates" in data:
            kwargs["templates"] = [TemplateSpec(**t) for t in data.pop("templates")]
        if "tokens" in data:
            kwargs["tokens"] = [TokenSpec(**t) for t in data.pop("tokens")]
        if "task_durations" in data:
            durations = dict(DEFAULT_TASK_DURATIONS)
            durations.update({k: float(v) for k, v in data.pop("task_durations").items()})
            kwargs["task_durations"] = durations
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown config keys: {', '.join(sorted(unknown))}")
        kwargs.update(data)
        return cls(**kwargs)

    @classmethod
    def from_yaml(cls, path: Path) -> SimConfig:
        """Load a config from a YAML file."""
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a mapping at top level")
        return cls.from_dict(data)
