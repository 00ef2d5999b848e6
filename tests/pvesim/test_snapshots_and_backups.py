"""Snapshots, vzdump, restore and rrddata behave as qemu-server and pve-manager do (notes pve-behaviour-2.md §3-5)."""

from __future__ import annotations

import itertools
from typing import Any
from urllib.parse import quote

import pytest
from pvesim.testing import PveSim

from tests.pvesim.pvesim_helpers import pve_error, wait


@pytest.fixture
def vm(px: Any) -> Any:
    """A running clone (VMID 101) of sv1's debian-12 template."""
    wait(px, px.nodes("sv1").qemu(9000).clone.post(newid=101, name="snap"))
    vm = px.nodes("sv1").qemu(101)
    wait(px, vm.status.start.post())
    return vm


def test_snapshot_tree_and_rollback_without_ram_leaves_the_vm_stopped(px: Any, vm: Any) -> None:
    assert wait(px, vm.snapshot.post(snapname="one", description="first"))["exitstatus"] == "OK"
    vm.config.put(cores=8)
    assert wait(px, vm.snapshot.post(snapname="two"))["exitstatus"] == "OK"
    listed = vm.snapshot.get()
    assert [s["name"] for s in listed] == ["one", "two", "current"]
    assert listed[1]["parent"] == "one"
    assert listed[2]["parent"] == "two"
    assert listed[2]["running"] == 1
    status = wait(px, vm.snapshot("one").rollback.post())
    assert status["type"] == "qmrollback"
    assert status["exitstatus"] == "OK"
    assert vm.status.current.get()["status"] == "stopped"
    assert vm.snapshot.get()[-1]["parent"] == "one"
    assert vm.config.get()["cores"] == 2


def test_rollback_to_a_ram_snapshot_runs_the_vm_again(px: Any, vm: Any) -> None:
    wait(px, vm.snapshot.post(snapname="live", vmstate=1))
    assert vm.snapshot("live").config.get()["vmstate"].endswith("vm-101-state-live")
    wait(px, vm.snapshot("live").rollback.post())
    assert vm.status.current.get()["status"] == "running"


def test_deleting_a_parent_reparents_its_children_and_current(px: Any, vm: Any) -> None:
    wait(px, vm.snapshot.post(snapname="a1"))
    wait(px, vm.snapshot.post(snapname="b2"))
    status = wait(px, vm.snapshot("a1").delete())
    assert status["type"] == "qmdelsnapshot"
    listed = {s["name"]: s for s in vm.snapshot.get()}
    assert set(listed) == {"b2", "current"}
    assert "parent" not in listed["b2"]
    assert listed["current"]["parent"] == "b2"


def test_snapshot_refusals(sim: PveSim, px: Any, vm: Any) -> None:
    pve_error(lambda: vm.snapshot.post(snapname="x"), 400, "Parameter verification failed.")
    pve_error(
        lambda: vm.snapshot.post(snapname="current"), 500, "unable to use snapshot name 'current' (reserved name)"
    )
    wait(px, vm.snapshot.post(snapname="same"))
    assert wait(px, vm.snapshot.post(snapname="same"))["exitstatus"] == "snapshot name 'same' already used"
    assert wait(px, vm.snapshot("nope").delete())["exitstatus"] == "snapshot 'nope' does not exist"
    pve_error(lambda: vm.snapshot("nope").config.get(), 500, "snapshot 'nope' does not exist")
    sim.set_task_duration("qmsnapshot", 5.0)
    upid = vm.snapshot.post(snapname="slow")
    assert vm.config.get()["lock"] == "snapshot"
    assert vm.snapshot.get()[-2]["snapstate"] == "prepare"
    pve_error(lambda: vm.config.put(cores=3), 500, "VM is locked (snapshot)")
    assert wait(px, vm.snapshot.post(snapname="other"))["exitstatus"] == "VM is locked (snapshot)"
    assert wait(px, px.nodes("sv1").vzdump.post(vmid=101))["exitstatus"] == "job errors"
    px.nodes("sv1").tasks(upid).delete()
    assert "lock" not in vm.config.get()
    assert [s["name"] for s in vm.snapshot.get()] == ["same", "current"]


def test_vzdump_locks_the_vm_lists_the_archive_and_restores_it(sim: PveSim, px: Any, vm: Any) -> None:
    sim.set_task_duration("vzdump", 5.0)
    upid = px.nodes("sv1").vzdump.post(vmid=101, storage="local", compress="zstd", mode="snapshot")
    assert upid.split(":")[5:7] == ["vzdump", "101"]
    assert vm.config.get()["lock"] == "backup"
    pve_error(lambda: vm.config.put(cores=3), 500, "VM is locked (backup)")
    sim.set_task_duration("vzdump", 0.0)
    sim.call(lambda: sim.simulator.tasks.abort(upid))
    assert "lock" not in vm.config.get()
    status = wait(px, px.nodes("sv1").vzdump.post(vmid=101, storage="local", compress="zstd"))
    assert status["exitstatus"] == "OK"
    log = [line["t"] for line in px.nodes("sv1").tasks(status["upid"]).log.get()]
    assert "INFO: Backup job finished successfully" in log
    (archive,) = px.nodes("sv1").storage("local").content.get(content="backup", vmid=101)
    assert archive["volid"].startswith("local:backup/vzdump-qemu-101-")
    assert archive["volid"].endswith(".vma.zst")
    assert archive["format"] == "vma.zst"
    assert isinstance(archive["size"], int)
    assert isinstance(archive["ctime"], int)
    assert px.nodes("sv2").storage("local").content.get(content="backup") == []  # `local` is per node

    pve_error(
        lambda: px.nodes("sv1").qemu.post(vmid=101, archive=archive["volid"]),
        500,
        "unable to restore VM 101 - VM 101 already exists on node 'sv1'",
    )
    pve_error(lambda: px.nodes("sv2").qemu.post(vmid=300, archive=archive["volid"]), 500,
              f"can't find file '{archive['volid']}'")  # fmt: skip
    restored = wait(px, px.nodes("sv1").qemu.post(vmid=300, archive=archive["volid"], unique=1, name="copy"))
    assert restored["type"] == "qmrestore"
    config = px.nodes("sv1").qemu(300).config.get()
    assert config["scsi0"].startswith("local-lvm:vm-300-disk-0")
    assert config["name"] == "copy"
    assert config["net0"] != vm.config.get()["net0"]

    forced = wait(px, px.nodes("sv1").qemu.post(vmid=101, archive=archive["volid"], force=1))
    assert forced["exitstatus"] == "unable to restore VM 101 - vm is running"
    assert "lock" not in vm.config.get()

    deleted = wait(px, px.nodes("sv1").storage("local").content(quote(archive["volid"], safe="")).delete())
    assert deleted["type"] == "imgdel"
    assert px.nodes("sv1").storage("local").content.get(content="backup") == []


def test_vzdump_parameter_rules(px: Any, vm: Any) -> None:
    error = pve_error(lambda: px.nodes("sv1").vzdump.post(protected=1), 400, "Parameter verification failed.")
    assert error.errors["storage"] == "missing property required by 'protected'"
    error = pve_error(lambda: px.nodes("sv1").vzdump.post(stdout=1, vmid=101), 400, "Parameter verification failed.")
    assert error.errors == {"stdout": "option is only allowed on the command line interface."}
    assert px.nodes("sv1").vzdump.post(vmid=9010) == "OK"  # every guest lives on another node: no task
    error = pve_error(lambda: px.nodes("sv1").qemu.post(vmid=500, force=1), 400, "Parameter verification failed.")
    assert error.errors == {"archive": "missing property required by 'force'"}
    status = wait(px, px.nodes("sv1").vzdump.post(vmid=101, storage="local-lvm"))
    assert status["exitstatus"] == "job errors"


def test_rrddata_has_pve_layout(sim: PveSim, px: Any, vm: Any) -> None:
    pve_error(lambda: vm.rrddata.get(timeframe="hour"), 500, "RRD error: opening "
              "'/var/lib/rrdcached/db/pve-vm-9.0/101': No such file or directory")  # fmt: skip
    sim.call(lambda: setattr(sim.cluster.vms[101], "created_at", 0.0))
    hour = vm.rrddata.get(timeframe="hour")
    assert len(hour) in (59, 60)
    assert all(b["time"] - a["time"] == 60 for a, b in itertools.pairwise(hour))
    assert {"cpu", "mem", "netin", "netout", "diskread", "diskwrite"} <= set(hour[-1])
    assert 0 <= hour[-1]["cpu"] <= 1
    assert len(vm.rrddata.get(timeframe="week")) in (335, 336)
    wait(px, vm.status.stop.post())
    assert set(vm.rrddata.get(timeframe="hour")[-1]) == {"time", "maxcpu", "maxmem", "maxdisk", "disk"}
    node = px.nodes("sv1").rrddata.get(timeframe="decade")
    assert len(node) == 570
    assert {"loadavg", "memused", "netin"} <= set(node[-1])
