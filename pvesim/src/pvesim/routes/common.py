"""Helpers and PVE message texts shared by the guest handlers."""

from __future__ import annotations

from pvesim.cluster import Vm
from pvesim.errors import PveError, TaskError
from pvesim.routing import Call


def config_missing(node: str, vmid: int) -> str:
    """Return AbstractConfig `load_config`'s message for a missing config."""
    return f"Configuration file 'nodes/{node}/qemu-server/{vmid}.conf' does not exist"


def not_on_node(node: str, vmid: int) -> str:
    """Return QemuConfig `assert_config_exists_on_node`'s message."""
    return f"unable to find configuration file for VM {vmid} on node '{node}'"


def locked(vm: Vm) -> str:
    """Return AbstractConfig `check_lock`'s message (no VMID in it)."""
    return f"VM is locked ({vm.lock})"


def load_vm(call: Call) -> Vm:
    """Load the VM's config on the URL node or fail like `load_config` (500)."""
    vm = call.sim.cluster.vm_on(call.node, call.vmid)
    if vm is None:
        raise PveError(500, config_missing(call.node, call.vmid))
    return vm


def find_vm(call: Call) -> Vm:
    """Find the VM on the URL node or fail like `check_running` (500)."""
    vm = call.sim.cluster.vm_on(call.node, call.vmid)
    if vm is None:
        raise PveError(500, not_on_node(call.node, call.vmid))
    return vm


def check_lock(call: Call, vm: Vm) -> None:
    """Refuse a locked VM before forking unless `skiplock=1`."""
    if vm.lock and not call.params.get("skiplock"):
        raise PveError(500, locked(vm))


def task_vm(call: Call, message: str) -> Vm:
    """Inside a worker: return the VM or end the task with `message`."""
    vm = call.sim.cluster.vm_on(call.node, call.vmid)
    if vm is None:
        raise TaskError(message)
    return vm


def task_check_lock(call: Call, vm: Vm) -> None:
    """Inside a worker: end the task if the VM is locked (unless `skiplock=1`)."""
    if vm.lock and not call.params.get("skiplock"):
        raise TaskError(locked(vm))
