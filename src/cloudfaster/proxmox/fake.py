"""An in-memory ``Hypervisor`` for fast service-layer tests (tasks finish at once); never the only test."""

from __future__ import annotations

import contextlib
import itertools
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Literal

from cloudfaster.proxmox.console import ConsoleSocket, ProxmoxConsoleError
from cloudfaster.proxmox.errors import (
    ProxmoxAgentUnavailableError,
    ProxmoxAlreadyExistsError,
    ProxmoxLockedError,
    ProxmoxNodeDownError,
    ProxmoxNotRunningError,
    ProxmoxRefusedError,
    ProxmoxTaskFailedError,
    ProxmoxVmMissingError,
)
from cloudfaster.proxmox.pacing import TaskPacing
from cloudfaster.proxmox.types import BackupVolume, GuestInfo, NodeLoad, SnapshotTree, TaskStatus, VmStatus

GIB = 1024**3


@dataclass
class FakeVm:
    """A guest in the fake cluster."""

    vmid: int
    node: str
    config: dict[str, Any]
    status: str = "stopped"
    qmpstatus: str = "stopped"
    pending: dict[str, Any] = field(default_factory=dict)


class FakeHypervisor:
    """Nodes with templates, VMs and instantly finished tasks; ``offline`` and ``failing`` inject faults."""

    def __init__(self, nodes: dict[str, list[str]], *, memory: int = 128 * GIB, cpus: int = 32) -> None:
        self.node_loads = {name: NodeLoad(name, True, cpus, 0.01, memory, 2 * GIB) for name in nodes}
        self.vms: dict[int, FakeVm] = {}
        self.offline: set[str] = set()
        self.failing: dict[str, str] = {}  # task type -> error
        self.tasks: dict[str, TaskStatus] = {}
        self.calls: list[tuple[str, str, int]] = []
        self._ids = itertools.count(1)
        self._pacing = TaskPacing()
        for index, (node, oses) in enumerate(nodes.items()):
            for j, os_name in enumerate(oses):
                vmid = 9000 + 10 * index + j
                config = {"name": f"tpl-{os_name}", "template": 1, "scsi0": "t:b,size=10G", "agent": "1"}
                self.vms[vmid] = FakeVm(vmid, node, config)

    def _node(self, node: str) -> None:
        if node in self.offline:
            raise ProxmoxNodeDownError("No route to host", status=595)

    def _vm(self, node: str, vmid: int) -> FakeVm:
        self._node(node)
        vm = self.vms.get(vmid)
        if vm is None or vm.node != node:
            raise ProxmoxVmMissingError(f"Configuration file 'nodes/{node}/qemu-server/{vmid}.conf' does not exist")
        return vm

    def _task(self, node: str, kind: str, vmid: int) -> str:
        self.calls.append((kind, node, vmid))
        upid = f"UPID:{node}:{next(self._ids):08X}:00000000:00000000:{kind}:{vmid}:root@pam!cf:"
        error = self.failing.get(kind)
        self.tasks[upid] = TaskStatus(upid, running=False, exitstatus=f"{error}" if error else "OK")
        return upid

    async def version(self) -> dict[str, Any]:
        """A fixed version."""
        return {"version": "9.1.4", "release": "9.1"}

    async def nodes(self) -> list[NodeLoad]:
        """Every node; offline ones without usage."""
        return [NodeLoad(name, False) if name in self.offline else load for name, load in self.node_loads.items()]

    async def guests(self) -> list[GuestInfo]:
        """Every guest."""
        return [
            GuestInfo(vm.vmid, vm.node, str(vm.config.get("name", "")), vm.status, bool(vm.config.get("template")),
                      cpus=int(vm.config.get("cores", 1)), memory_bytes=int(vm.config.get("memory", 512)) * 1024**2)
            for vm in self.vms.values()
        ]  # fmt: skip

    async def vmid_is_free(self, vmid: int) -> bool:
        """Free unless a guest has it."""
        return vmid not in self.vms

    async def clone(self, node: str, template_vmid: int, newid: int, *, name: str, description: str) -> str:
        """Clone at once (or fail the task when ``failing['qmclone']`` is set)."""
        source = self._vm(node, template_vmid)
        if newid in self.vms:
            raise ProxmoxAlreadyExistsError(f"unable to create VM {newid}: config file already exists", status=500)
        upid = self._task(node, "qmclone", template_vmid)
        if "qmclone" not in self.failing:
            config = {k: v for k, v in source.config.items() if k != "template"}
            self.vms[newid] = FakeVm(newid, node, {**config, "name": name, "description": description})
        return upid

    async def set_config(self, node: str, vmid: int, values: dict[str, Any]) -> None:
        """Apply at once when stopped; cores/memory stay pending while running."""
        vm = self._vm(node, vmid)
        for key, value in values.items():
            (vm.pending if vm.status == "running" and key in ("cores", "memory") else vm.config)[key] = value

    async def config(self, node: str, vmid: int) -> dict[str, Any]:
        """Config with pending merged in."""
        vm = self._vm(node, vmid)
        return {**vm.config, **vm.pending}

    async def pending(self, node: str, vmid: int) -> list[dict[str, Any]]:
        """Keys with pending values."""
        vm = self._vm(node, vmid)
        return [{"key": k, "value": str(vm.config.get(k)), "pending": str(v)} for k, v in vm.pending.items()]

    async def resize(self, node: str, vmid: int, disk: str, size: str) -> str | None:
        """Set the disk's size."""
        vm = self._vm(node, vmid)
        current = int(str(vm.config[disk]).rsplit("size=", 1)[1].rstrip("G"))
        if int(size.rstrip("G")) < current:
            raise ProxmoxTaskFailedError("shrinking disks is not supported")
        vm.config[disk] = f"t:vm-{vmid}-disk-0,size={size}"
        return self._task(node, "resize", vmid)

    async def status(self, node: str, vmid: int) -> VmStatus:
        """Power state."""
        vm = self._vm(node, vmid)
        return VmStatus(vm.status, vm.qmpstatus, cpus=int(vm.config.get("cores", 1)))

    async def power(self, node: str, vmid: int, action: str, params: dict[str, Any] | None = None) -> str:
        """Apply a power action at once."""
        vm = self._vm(node, vmid)
        if vm.config.get("lock"):
            raise ProxmoxLockedError(f"VM is locked ({vm.config['lock']})", status=500)
        if action in ("reboot", "suspend", "resume") and vm.status != "running":
            raise ProxmoxNotRunningError(f"VM {vmid} not running", status=500)
        kind = {"suspend": "qmpause"}.get(action, f"qm{action}")
        upid = self._task(node, kind, vmid)
        if kind in self.failing:
            return upid
        if action in ("start", "reboot", "resume"):
            vm.config.update(vm.pending) if action != "resume" else None
            vm.pending = {} if action != "resume" else vm.pending
            vm.status, vm.qmpstatus = "running", "running"
        elif action in ("stop", "shutdown"):
            vm.config.update(vm.pending)
            vm.pending = {}
            vm.status, vm.qmpstatus = "stopped", "stopped"
        elif action == "suspend":
            vm.qmpstatus = "paused"
        return upid

    async def destroy(self, node: str, vmid: int) -> str:
        """Remove a stopped VM."""
        vm = self._vm(node, vmid)
        if vm.status == "running":
            raise ProxmoxRefusedError(f"VM {vmid} is running - destroy failed", status=500)
        upid = self._task(node, "qmdestroy", vmid)
        if "qmdestroy" not in self.failing:
            del self.vms[vmid]
        return upid

    async def task(self, node: str, upid: str) -> TaskStatus:
        """The finished task."""
        return self.tasks[upid]

    def poll_interval(self) -> float:
        """Tasks are finished when they are made: no need to wait between polls."""
        return 0.0

    def polling(self) -> AbstractContextManager[None]:
        """Nothing to count."""
        return contextlib.nullcontext()

    @property
    def pacing(self) -> TaskPacing:
        """Learns that tasks take no time."""
        return self._pacing

    @property
    def task_timeout_s(self) -> float:
        """Never reached: every task has ended."""
        return 1.0

    async def vncproxy(self, node: str, vmid: int) -> dict[str, Any]:
        """A made-up VNC ticket."""
        vm = self._vm(node, vmid)
        if vm.status != "running":
            raise ProxmoxNotRunningError(f"VM {vmid} not running", status=500)
        return {"port": "5900", "ticket": "PVEVNC:FAKE", "password": "p4ssw0rd", "user": "root@pam", "cert": ""}

    async def spiceproxy(self, node: str, vmid: int) -> dict[str, Any]:
        """A made-up SPICE config."""
        vm = self._vm(node, vmid)
        if vm.status != "running":
            raise ProxmoxNotRunningError(f"VM {vmid} not running", status=500)
        return {"type": "spice", "host": f"pvespiceproxy:0:{vmid}:{node}::x", "password": "x", "tls-port": 61000}

    async def open_console(self, node: str, vmid: int, kind: Literal["vnc", "term"]) -> ConsoleSocket:
        """No console in the fake: the console tests run against pvesim."""
        self._vm(node, vmid)
        raise ProxmoxConsoleError("the fake hypervisor has no consoles")

    async def agent_interfaces(self, node: str, vmid: int) -> list[dict[str, Any]]:
        """``lo`` and ``eth0`` with the static ``ipconfig0`` address, else a DHCP-like one made from the VMID."""
        vm = self._agent_vm(node, vmid)
        ip = dict(p.split("=", 1) for p in str(vm.config.get("ipconfig0", "")).split(",") if "=" in p).get("ip")
        address, prefix = ip.split("/") if ip and ip != "dhcp" else (f"10.200.{vmid // 250 % 250}.{vmid % 250 + 2}", 16)
        loopback = {"ip-address": "127.0.0.1", "ip-address-type": "ipv4", "prefix": 8}
        lan = {"ip-address": address, "ip-address-type": "ipv4", "prefix": int(prefix)}
        return [{"name": "lo", "ip-addresses": [loopback]}, {"name": "eth0", "ip-addresses": [lan]}]

    async def agent_ping(self, node: str, vmid: int) -> None:
        """Answer when the agent is configured and the VM runs."""
        self._agent_vm(node, vmid)

    def _agent_vm(self, node: str, vmid: int) -> FakeVm:
        vm = self._vm(node, vmid)
        if "agent" not in vm.config:
            raise ProxmoxAgentUnavailableError("No QEMU guest agent configured", status=500)
        if vm.status != "running":
            raise ProxmoxNotRunningError(f"VM {vmid} is not running", status=500)
        if str(vm.config["agent"]).split(",")[0] not in ("1", "enabled=1"):
            raise ProxmoxAgentUnavailableError("QEMU guest agent is not running", status=500)
        return vm

    def api_host(self, node: str) -> tuple[str, int]:
        """A made-up address."""
        return ("pve.invalid", 8006)

    async def close(self) -> None:
        """Nothing to release."""

    # ------------------------------------------------------------------ day two: not simulated here (pvesim is)

    def _unsupported(self) -> ProxmoxRefusedError:
        return ProxmoxRefusedError("not supported by the fake hypervisor; test this against pvesim")

    async def snapshots(self, node: str, vmid: int) -> SnapshotTree:
        """No snapshots."""
        return SnapshotTree([], None, self.vms[vmid].status == "running" if vmid in self.vms else False)

    async def snapshot(self, node: str, vmid: int, name: str, *, description: str, vmstate: bool) -> str:
        """Refused."""
        raise self._unsupported()

    async def delete_snapshot(self, node: str, vmid: int, name: str) -> str:
        """Refused."""
        raise self._unsupported()

    async def rollback(self, node: str, vmid: int, name: str, *, start: bool) -> str:
        """Refused."""
        raise self._unsupported()

    async def vzdump(self, node: str, vmid: int, *, storage: str, mode: str, notes: str) -> str:
        """Refused."""
        raise self._unsupported()

    async def backups(self, node: str, storage: str, vmid: int | None = None) -> list[BackupVolume]:
        """No archives."""
        return []

    async def storage_shared(self, node: str, storage: str) -> bool:
        """Nothing is shared."""
        return False

    async def delete_volume(self, node: str, storage: str, volid: str) -> str | None:
        """Refused."""
        raise self._unsupported()

    async def restore(self, node: str, vmid: int, archive: str, *, force: bool, options: dict[str, Any]) -> str:
        """Refused."""
        raise self._unsupported()

    async def rrddata(self, node: str, vmid: int | None, timeframe: str) -> list[dict[str, Any]]:
        """No history."""
        return []

    async def task_log(self, node: str, upid: str) -> list[str]:
        """No log."""
        return []

    async def find_task(self, node: str, vmid: int, kind: str, since: int) -> str | None:
        """Nothing found."""
        return None
