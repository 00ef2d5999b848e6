"""Clone: locks, linked vs full rules, taken VMIDs, target nodes and failures inside the task."""

from __future__ import annotations

from typing import Any

from pvesim.testing import PveSim

from tests.pvesim.pvesim_helpers import pve_error, wait


def test_clone_holds_lock_until_the_task_ends(sim: PveSim, px: Any) -> None:
    sim.set_task_duration("qmclone", 30)
    upid = px.nodes("sv1").qemu(9000).clone.post(newid=101, name="web1")
    listed = {vm["vmid"]: vm for vm in px.nodes("sv1").qemu.get()}
    assert listed[101]["lock"] == "clone"
    resources = {r["vmid"]: r for r in px.cluster.resources.get(type="vm")}
    assert resources[101]["lock"] == "clone"
    assert set(px.nodes("sv1").qemu(101).config.get()) == {"lock", "digest"}
    vm = px.nodes("sv1").qemu(101)
    pve_error(lambda: vm.config.put(cores=4), 500, "VM is locked (clone)")
    pve_error(lambda: vm.config.post(cores=4), 500, "VM is locked (clone)")
    start = wait(px, vm.status.start.post())
    assert start["exitstatus"] == "VM is locked (clone)"
    # Parallel clones of the same template are allowed (shared lock on the source).
    second = px.nodes("sv1").qemu(9000).clone.post(newid=102)
    px.nodes("sv1").tasks(upid).delete()
    px.nodes("sv1").tasks(second).delete()


def test_clone_result(sim: PveSim, px: Any) -> None:
    source = px.nodes("sv1").qemu(9000).config.get()
    wait(px, px.nodes("sv1").qemu(9000).clone.post(newid=101, name="web1", description="hello"))
    config = px.nodes("sv1").qemu(101).config.get()
    assert "lock" not in config
    assert "template" not in config
    assert config["name"] == "web1"
    assert config["description"] == "hello"
    assert config["scsi0"] == "local-lvm:base-9000-disk-0/vm-101-disk-0,iothread=1,size=10G"
    assert config["ide2"] == "local-lvm:vm-101-cloudinit,media=cdrom"
    assert config["net0"] != source["net0"]
    assert config["net0"].startswith("virtio=BC:24:11:")
    assert config["smbios1"] != source["smbios1"]
    wait(px, px.nodes("sv1").qemu(9000).clone.post(newid=102))
    assert px.nodes("sv1").qemu(102).config.get()["name"] == "Copy-of-VM-tpl-debian-12"


def test_full_clone_to_other_storage(px: Any) -> None:
    wait(px, px.nodes("sv1").qemu(9000).clone.post(newid=101, full=1, storage="ceph-vm"))
    config = px.nodes("sv1").qemu(101).config.get()
    assert config["scsi0"] == "ceph-vm:vm-101-disk-0,iothread=1,size=10G"


def test_linked_clone_refusals(px: Any) -> None:
    template = px.nodes("sv1").qemu(9000)
    pve_error(
        lambda: template.clone.post(newid=101, storage="ceph-vm"),
        500,
        "parameter 'storage' not allowed for linked clones",
    )
    pve_error(
        lambda: template.clone.post(newid=101, full=0, format="raw"),
        500,
        "parameter 'format' not allowed for linked clones",
    )
    wait(px, template.clone.post(newid=101))
    pve_error(
        lambda: px.nodes("sv1").qemu(101).clone.post(newid=102, full=0),
        500,
        "Linked clone feature is not supported for 'local-lvm:base-9000-disk-0/vm-101-disk-0' (scsi0)",
    )
    # A normal VM clones full by default.
    wait(px, px.nodes("sv1").qemu(101).clone.post(newid=102))
    assert px.nodes("sv1").qemu(102).config.get()["scsi0"].startswith("local-lvm:vm-102-disk-0,")


def test_clone_onto_taken_vmid(px: Any) -> None:
    template = px.nodes("sv1").qemu(9000)
    pve_error(lambda: template.clone.post(newid=9001), 500, "unable to create VM 9001: config file already exists")
    pve_error(
        lambda: template.clone.post(newid=9010),
        500,
        "unable to create VM 9010 - VM 9010 already exists on node 'sv2'",
    )


def test_clone_from_wrong_node_or_locked_source(sim: PveSim, px: Any) -> None:
    pve_error(
        lambda: px.nodes("sv2").qemu(9000).clone.post(newid=101),
        500,
        "unable to find configuration file for VM 9000 on node 'sv2'",
    )
    sim.set_task_duration("qmclone", 30)
    upid = px.nodes("sv1").qemu(9000).clone.post(newid=101)
    pve_error(lambda: px.nodes("sv1").qemu(101).clone.post(newid=102), 500, "VM is locked (clone)")
    px.nodes("sv1").tasks(upid).delete()


def test_clone_to_other_node(px: Any) -> None:
    pve_error(
        lambda: px.nodes("sv1").qemu(9000).clone.post(newid=101, target="sv2"),
        500,
        "can't clone VM to node 'sv2' (VM uses local storage)",
    )
    pve_error(
        lambda: px.nodes("sv1").qemu(9000).clone.post(newid=101, target="sv9"),
        500,
        "no such cluster node 'sv9'",
    )
    wait(px, px.nodes("sv1").qemu(9000).clone.post(newid=101, full=1, storage="ceph-vm"))
    pve_error(
        lambda: px.nodes("sv1").qemu(101).clone.post(newid=102, target="sv2", storage="local-lvm"),
        500,
        "can't clone to non-shared storage 'local-lvm'",
    )
    wait(px, px.nodes("sv1").qemu(101).clone.post(newid=102, target="sv2"))
    assert px.nodes("sv2").qemu(102).config.get()["scsi0"].startswith("ceph-vm:vm-102-disk-0")


def test_failing_clone_task_removes_the_new_vm(sim: PveSim, px: Any) -> None:
    sim.faults.fail_task("qmclone", "clone failed: storage 'local-lvm' is full")
    final = wait(px, px.nodes("sv1").qemu(9000).clone.post(newid=101))
    assert final["exitstatus"] == "clone failed: storage 'local-lvm' is full"
    assert 101 not in sim.cluster.vms
    pve_error(
        lambda: px.nodes("sv1").qemu(101).config.get(),
        500,
        "Configuration file 'nodes/sv1/qemu-server/101.conf' does not exist",
    )
    sim.faults.clear_task_failure("qmclone")
    assert wait(px, px.nodes("sv1").qemu(9000).clone.post(newid=101))["exitstatus"] == "OK"


def test_out_of_memory_node_fails_clone_and_start(sim: PveSim, px: Any) -> None:
    wait(px, px.nodes("sv1").qemu(9000).clone.post(newid=101))
    sim.faults.set_node_out_of_memory("sv1")
    status = px.nodes("sv1").status.get()
    assert status["memory"]["free"] < 128 * 1024**2
    final = wait(px, px.nodes("sv1").qemu(9000).clone.post(newid=102))
    assert final["exitstatus"] == "clone failed: cannot allocate memory"
    assert 102 not in sim.cluster.vms
    final = wait(px, px.nodes("sv1").qemu(101).status.start.post())
    assert final["exitstatus"] == "start failed: QEMU exited with code 1"
    sim.faults.set_node_out_of_memory("sv1", False)
    assert wait(px, px.nodes("sv1").qemu(101).status.start.post())["exitstatus"] == "OK"
