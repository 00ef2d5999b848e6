"""Power actions: which checks fail before the task (500) and which inside it (TASK ERROR)."""

from __future__ import annotations

from typing import Any

import pytest
from pvesim.testing import PveSim

from tests.pvesim.pvesim_helpers import pve_error, wait


@pytest.fixture
def vm(px: Any) -> Any:
    """Return a fresh stopped clone 101 on sv1."""
    wait(px, px.nodes("sv1").qemu(9000).clone.post(newid=101, name="app"))
    return px.nodes("sv1").qemu(101)


def test_start_stop_cycle(px: Any, vm: Any) -> None:
    assert vm.status.current.get()["status"] == "stopped"
    assert wait(px, vm.status.start.post())["exitstatus"] == "OK"
    current = vm.status.current.get()
    assert (current["status"], current["qmpstatus"]) == ("running", "running")
    assert current["pid"] > 0
    assert current["uptime"] >= 0
    assert wait(px, vm.status.start.post())["exitstatus"] == "VM 101 already running"
    assert wait(px, vm.status.shutdown.post())["exitstatus"] == "OK"
    assert vm.status.current.get()["status"] == "stopped"
    # Stopping a stopped VM is an OK no-op.
    assert wait(px, vm.status.stop.post())["exitstatus"] == "OK"


def test_start_template_fails_inside_the_task(px: Any) -> None:
    upid = px.nodes("sv1").qemu(9000).status.start.post()
    assert wait(px, upid)["exitstatus"] == "you can't start a vm if it's a template"


def test_missing_vm_before_and_inside_the_task(px: Any) -> None:
    node = px.nodes("sv1").qemu(555)
    assert wait(px, node.status.start.post())["exitstatus"] == (
        "Configuration file 'nodes/sv1/qemu-server/555.conf' does not exist"
    )
    assert (
        wait(px, node.status.stop.post())["exitstatus"] == "unable to find configuration file for VM 555 on node 'sv1'"
    )
    for action in ("reboot", "suspend", "resume", "reset"):
        pve_error(
            getattr(node.status, action).post,
            500,
            "unable to find configuration file for VM 555 on node 'sv1'",
        )


def test_not_running_refusals(vm: Any) -> None:
    for action in ("reboot", "suspend", "resume", "reset"):
        pve_error(getattr(vm.status, action).post, 500, "VM 101 not running")


def test_suspend_resume(px: Any, vm: Any) -> None:
    wait(px, vm.status.start.post())
    upid = vm.status.suspend.post()
    assert ":qmpause:101:" in upid
    wait(px, upid)
    current = vm.status.current.get()
    assert (current["status"], current["qmpstatus"]) == ("running", "paused")
    pve_error(lambda: vm.status.shutdown.post(), 500, "VM is paused - cannot shutdown")
    pve_error(lambda: vm.status.reboot.post(), 500, "VM is paused - cannot shutdown")
    wait(px, vm.status.resume.post())
    assert vm.status.current.get()["qmpstatus"] == "running"
    wait(px, vm.status.suspend.post())
    assert wait(px, vm.status.shutdown.post(forceStop=1))["exitstatus"] == "OK"


def test_suspend_to_disk_and_resume_by_start(px: Any, vm: Any) -> None:
    wait(px, vm.status.start.post())
    upid = vm.status.suspend.post(todisk=1)
    assert ":qmsuspend:101:" in upid
    wait(px, upid)
    assert vm.config.get()["lock"] == "suspended"
    assert vm.status.current.get()["status"] == "stopped"
    wait(px, vm.status.start.post())
    assert vm.status.current.get()["status"] == "running"
    assert "lock" not in vm.config.get()


def test_reboot_and_reset(px: Any, vm: Any) -> None:
    wait(px, vm.status.start.post())
    assert ":qmreboot:101:" in vm.status.reboot.post()
    assert ":qmreset:101:" in vm.status.reset.post()
    assert vm.status.current.get()["status"] == "running"


def test_locked_running_vm_stop_fails_in_task(sim: PveSim, px: Any, vm: Any) -> None:
    wait(px, vm.status.start.post())
    sim.call(lambda: sim.cluster.vms[101].config.__setitem__("lock", "backup"))
    assert wait(px, vm.status.stop.post())["exitstatus"] == "VM is locked (backup)"
    assert wait(px, vm.status.stop.post(skiplock=1))["exitstatus"] == "OK"


def test_status_index(vm: Any) -> None:
    assert {"subdir": "current"} in vm.status.get()
