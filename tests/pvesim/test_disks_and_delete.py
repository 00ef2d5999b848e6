"""Resize (grow only, checks inside the task) and delete (refused while running)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.pvesim.pvesim_helpers import pve_error, wait


@pytest.fixture
def vm(px: Any) -> Any:
    """Return a fresh stopped clone 101 on sv1 with a 10G scsi0."""
    wait(px, px.nodes("sv1").qemu(9000).clone.post(newid=101))
    return px.nodes("sv1").qemu(101)


def test_resize_grow_relative_and_absolute(px: Any, vm: Any) -> None:
    upid = vm.resize.put(disk="scsi0", size="+10G")
    assert ":resize:101:" in upid
    assert wait(px, upid)["exitstatus"] == "OK"
    assert vm.config.get()["scsi0"].endswith(",size=20G")
    assert wait(px, vm.resize.put(disk="scsi0", size="32G"))["exitstatus"] == "OK"
    assert vm.config.get()["scsi0"].endswith(",size=32G")
    assert vm.status.current.get()["maxdisk"] == 32 * 1024**3
    assert wait(px, vm.resize.put(disk="scsi0", size="32G"))["exitstatus"] == "OK"


def test_resize_failures_are_task_errors(px: Any, vm: Any) -> None:
    assert wait(px, vm.resize.put(disk="scsi0", size="5G"))["exitstatus"] == "shrinking disks is not supported"
    assert wait(px, vm.resize.put(disk="scsi5", size="+1G"))["exitstatus"] == "disk 'scsi5' does not exist"
    assert wait(px, vm.resize.put(disk="ide2", size="+1G"))["exitstatus"] == "you can't resize a cdrom"
    missing = px.nodes("sv1").qemu(777).resize.put(disk="scsi0", size="+1G")
    assert wait(px, missing)["exitstatus"] == "Configuration file 'nodes/sv1/qemu-server/777.conf' does not exist"
    assert vm.config.get()["scsi0"].endswith(",size=10G")


def test_delete_refused_while_running(px: Any, vm: Any) -> None:
    wait(px, vm.status.start.post())
    pve_error(lambda: vm.delete(), 500, "VM 101 is running - destroy failed")
    wait(px, vm.status.stop.post())
    upid = vm.delete()
    assert ":qmdestroy:101:" in upid
    assert wait(px, upid)["exitstatus"] == "OK"
    pve_error(lambda: vm.config.get(), 500, "Configuration file 'nodes/sv1/qemu-server/101.conf' does not exist")
    pve_error(
        lambda: vm.status.current.get(), 500, "Configuration file 'nodes/sv1/qemu-server/101.conf' does not exist"
    )
    pve_error(lambda: vm.delete(), 500, "Configuration file 'nodes/sv1/qemu-server/101.conf' does not exist")


def test_delete_protected_vm(vm: Any) -> None:
    vm.config.put(protection=1)
    pve_error(lambda: vm.delete(), 500, "can't remove VM 101 - protection mode enabled")


def test_template_with_linked_clones_cannot_be_deleted(px: Any, vm: Any) -> None:
    final = wait(px, px.nodes("sv1").qemu(9000).delete())
    assert final["exitstatus"] == "base volume 'local-lvm:base-9000-disk-0' is still in use by linked clones"
    wait(px, vm.delete())
    assert wait(px, px.nodes("sv1").qemu(9000).delete())["exitstatus"] == "OK"


def test_convert_to_template(px: Any, vm: Any) -> None:
    wait(px, px.nodes("sv1").qemu(101).clone.post(newid=102))
    new = px.nodes("sv1").qemu(102)
    assert wait(px, new.template.post())["exitstatus"] == "OK"
    config = new.config.get()
    assert config["template"] == 1
    assert config["scsi0"].startswith("local-lvm:base-102-disk-0,")
    pve_error(lambda: new.template.post(), 500, "you can't convert a template to a template")
