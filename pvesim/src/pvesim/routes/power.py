"""Power actions: POST …/status/{start,stop,shutdown,reboot,suspend,resume,reset} (Qemu.pm, QemuServer.pm)."""

from __future__ import annotations

import random
import time

from pvesim.cluster import Vm
from pvesim.errors import PveError, TaskError
from pvesim.routes.common import config_missing, find_vm, not_on_node, task_check_lock, task_vm
from pvesim.routing import Call, RouteTable
from pvesim.tasks import Task

table = RouteTable()


def run(vm: Vm) -> None:
    """Mark a VM running with a fresh pid."""
    vm.status = "running"
    vm.qmpstatus = "running"
    vm.started_at = time.time()
    vm.pid = random.randint(1000, 4_000_000)


def halt(vm: Vm) -> None:
    """Mark a VM stopped; pending changes apply."""
    vm.status = "stopped"
    vm.qmpstatus = "stopped"
    vm.started_at = None
    vm.pid = None
    vm.apply_pending()


def _require_running(vm: Vm) -> None:
    if vm.status != "running":
        raise PveError(500, f"VM {vm.vmid} not running")


@table.route("POST", "/nodes/{node}/qemu/{vmid}/status/start")
def start(call: Call) -> str:
    """Start a VM; every refusal happens inside the task (QemuServer `vm_start`)."""
    cluster = call.sim.cluster

    def work(task: Task) -> None:
        vm = task_vm(call, config_missing(call.node, call.vmid))
        if vm.lock == "suspended":
            task.log.append("resuming suspended VM")
        else:
            task_check_lock(call, vm)
        if vm.is_template:
            raise TaskError("you can't start a vm if it's a template")
        if vm.status == "running":
            raise TaskError(f"VM {vm.vmid} already running")
        if cluster.nodes[vm.node].out_of_memory:
            task.log.append("kvm: cannot set up guest memory 'pc.ram': Cannot allocate memory")
            raise TaskError("start failed: QEMU exited with code 1")
        vm.apply_pending()
        vm.config.pop("lock", None) if vm.lock == "suspended" else None
        run(vm)

    return call.sim.tasks.spawn(call.node, "qmstart", str(call.vmid), call.user, work).upid


@table.route("POST", "/nodes/{node}/qemu/{vmid}/status/stop")
def stop(call: Call) -> str:
    """Hard-stop a VM; a stopped VM gives an OK no-op task."""

    def work(task: Task) -> None:
        vm = task_vm(call, not_on_node(call.node, call.vmid))
        if vm.status != "running":
            return
        task_check_lock(call, vm)
        halt(vm)

    return call.sim.tasks.spawn(call.node, "qmstop", str(call.vmid), call.user, work).upid


@table.route("POST", "/nodes/{node}/qemu/{vmid}/status/shutdown")
def shutdown(call: Call) -> str:
    """Shut a VM down cleanly; a paused VM is refused unless forceStop=1."""
    vm = call.sim.cluster.vm_on(call.node, call.vmid)
    if vm is not None and vm.qmpstatus == "paused" and not call.params.get("forceStop"):
        raise PveError(500, "VM is paused - cannot shutdown")

    def work(task: Task) -> None:
        current = task_vm(call, not_on_node(call.node, call.vmid))
        if current.status != "running":
            return
        task_check_lock(call, current)
        halt(current)

    return call.sim.tasks.spawn(call.node, "qmshutdown", str(call.vmid), call.user, work).upid


@table.route("POST", "/nodes/{node}/qemu/{vmid}/status/reboot")
def reboot(call: Call) -> str:
    """Reboot a running VM, applying pending changes."""
    vm = find_vm(call)
    _require_running(vm)
    if vm.qmpstatus == "paused":
        raise PveError(500, "VM is paused - cannot shutdown")

    def work(task: Task) -> None:
        vm.apply_pending()
        run(vm)

    return call.sim.tasks.spawn(call.node, "qmreboot", str(vm.vmid), call.user, work).upid


@table.route("POST", "/nodes/{node}/qemu/{vmid}/status/suspend")
def suspend(call: Call) -> str:
    """Pause a running VM (`qmpause`), or suspend it to disk with todisk=1 (`qmsuspend`)."""
    vm = find_vm(call)
    _require_running(vm)
    to_disk = bool(call.params.get("todisk"))

    def work(task: Task) -> None:
        task_check_lock(call, vm)
        if to_disk:
            halt(vm)
            vm.qmpstatus = "stopped"
            vm.config["lock"] = "suspended"
        else:
            vm.qmpstatus = "paused"

    kind = "qmsuspend" if to_disk else "qmpause"
    return call.sim.tasks.spawn(call.node, kind, str(vm.vmid), call.user, work).upid


@table.route("POST", "/nodes/{node}/qemu/{vmid}/status/resume")
def resume(call: Call) -> str:
    """Resume a paused VM, or one suspended to disk."""
    vm = find_vm(call)
    suspended_to_disk = vm.lock == "suspended"
    if not suspended_to_disk:
        _require_running(vm)

    def work(task: Task) -> None:
        if suspended_to_disk:
            vm.config.pop("lock", None)
            run(vm)
        else:
            vm.qmpstatus = "running"

    return call.sim.tasks.spawn(call.node, "qmresume", str(vm.vmid), call.user, work).upid


@table.route("POST", "/nodes/{node}/qemu/{vmid}/status/reset")
def reset(call: Call) -> str:
    """Reset a running VM."""
    vm = find_vm(call)
    _require_running(vm)

    def work(task: Task) -> None:
        task_check_lock(call, vm)
        run(vm)

    return call.sim.tasks.spawn(call.node, "qmreset", str(vm.vmid), call.user, work).upid
