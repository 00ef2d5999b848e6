"""Config GET/POST/PUT, pending changes on running VMs, digests and deletions."""

from __future__ import annotations

from typing import Any

import pytest

from tests.pvesim.pvesim_helpers import pve_error, wait


@pytest.fixture
def vm(px: Any) -> Any:
    """Return a fresh stopped linked clone 101 of tpl-debian-12 on sv1."""
    wait(px, px.nodes("sv1").qemu(9000).clone.post(newid=101, name="app"))
    return px.nodes("sv1").qemu(101)


def test_put_is_synchronous_and_typed(vm: Any) -> None:
    assert vm.config.put(cores=4, memory="4096", onboot=1, ciuser="debian", ipconfig0="ip=dhcp") is None
    config = vm.config.get()
    assert config["cores"] == 4
    assert config["memory"] == "4096"
    assert config["onboot"] == 1
    assert config["ipconfig0"] == "ip=dhcp"


def test_post_returns_a_qmconfig_task(px: Any, vm: Any) -> None:
    upid = vm.config.post(cores=3)
    assert ":qmconfig:101:" in upid
    assert wait(px, upid)["exitstatus"] == "OK"
    assert vm.config.get()["cores"] == 3
    assert vm.config.post(cores=2, background_delay=5) is None
    assert vm.config.get()["cores"] == 2


def test_running_vm_keeps_cpu_and_memory_pending(px: Any, vm: Any) -> None:
    wait(px, vm.status.start.post())
    vm.config.put(cores=8, memory="8192", name="renamed", delete="ostype,description")
    assert vm.config.get()["cores"] == 8
    assert vm.config.get(current=1)["cores"] == 2
    assert vm.config.get(current=1)["name"] == "renamed"
    pending = {entry["key"]: entry for entry in vm.pending.get()}
    assert pending["cores"] == {"key": "cores", "value": "2", "pending": "8"}
    assert pending["memory"] == {"key": "memory", "value": "2048", "pending": "8192"}
    assert pending["ostype"]["delete"] == 1
    assert "description" not in pending  # a fast-plug option is deleted at once
    assert vm.status.current.get()["maxmem"] == 2048 * 1024**2
    wait(px, vm.status.stop.post())
    wait(px, vm.status.start.post())
    assert vm.config.get(current=1)["cores"] == 8
    assert "ostype" not in vm.config.get()
    assert vm.status.current.get()["maxmem"] == 8192 * 1024**2
    assert all("pending" not in entry for entry in vm.pending.get())


def test_digest_mismatch(vm: Any) -> None:
    digest = vm.config.get()["digest"]
    vm.config.put(cores=3, digest=digest)
    pve_error(
        lambda: vm.config.put(cores=4, digest=digest),
        500,
        "detected modified configuration - file changed by other user? Try again.",
    )


def test_refusals(vm: Any) -> None:
    pve_error(lambda: vm.config.put(), 500, "no options specified")
    error = pve_error(lambda: vm.config.put(delete="nosuchkey"), 400, "Parameter verification failed.")
    assert error.errors == {"delete": "unknown option 'nosuchkey'"}
    error = pve_error(lambda: vm.config.put(cores=2, delete="cores"), 400, "Parameter verification failed.")
    assert error.errors == {"delete": "you can't use '-cores' and -delete cores' at the same time"}
    pve_error(
        lambda: vm.config.put(balloon=4096),
        500,
        "balloon value too large (must be smaller than assigned memory)",
    )


def test_cipassword_is_masked(vm: Any) -> None:
    vm.config.put(cipassword="s3cret")
    assert vm.config.get()["cipassword"] == "**********"


def test_add_disk_and_cloudinit_drive(vm: Any) -> None:
    vm.config.put(scsi1="local-lvm:32", ide0="local-lvm:cloudinit")
    config = vm.config.get()
    assert config["scsi1"] == "local-lvm:vm-101-disk-1,size=32G"
    assert config["ide0"] == "local-lvm:vm-101-cloudinit,media=cdrom"


def test_missing_vm(px: Any) -> None:
    pve_error(
        lambda: px.nodes("sv2").qemu(9000).config.get(),
        500,
        "Configuration file 'nodes/sv2/qemu-server/9000.conf' does not exist",
    )
