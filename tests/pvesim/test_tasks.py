"""UPIDs, task status, logs, the task list and stopping tasks."""

from __future__ import annotations

import re
import time
from typing import Any

from proxmoxer.tools import Tasks
from pvesim.testing import PveSim

from tests.pvesim.pvesim_helpers import pve_error, wait

UPID = re.compile(r"^UPID:sv1:[0-9A-F]{8}:[0-9A-F]{8,9}:[0-9A-F]{8}:qmclone:9000:root@pam!cloudfaster:$")


def test_upid_format(px: Any) -> None:
    upid = px.nodes("sv1").qemu(9000).clone.post(newid=101)
    assert UPID.match(upid)
    decoded = Tasks.decode_upid(upid)
    assert decoded["node"] == "sv1"
    assert decoded["user"] == "root@pam"
    assert decoded["id"] == "9000"
    assert decoded["comment"] == ""


def test_task_runs_for_its_duration(sim: PveSim, px: Any) -> None:
    sim.set_task_duration("qmclone", 0.3)
    upid = px.nodes("sv1").qemu(9000).clone.post(newid=101)
    status = px.nodes("sv1").tasks(upid).status.get()
    assert status["status"] == "running"
    assert "exitstatus" not in status
    assert status["user"] == "root@pam"
    assert status["tokenid"] == "cloudfaster"
    started = time.monotonic()
    final = wait(px, upid)
    assert time.monotonic() - started > 0.15
    assert final["exitstatus"] == "OK"


def test_task_log(px: Any) -> None:
    upid = px.nodes("sv1").qemu(9000).clone.post(newid=101)
    wait(px, upid)
    log = px.nodes("sv1").tasks(upid).log.get()
    assert log[0] == {"n": 1, "t": "create linked clone of drive scsi0 (local-lvm:base-9000-disk-0)"}
    assert log[-1]["t"] == "TASK OK"
    assert px.nodes("sv1").tasks(upid).log.get(start=1, limit=1) == [{"n": 2, "t": "TASK OK"}]


def test_failed_task_log_and_status(sim: PveSim, px: Any) -> None:
    upid = px.nodes("sv1").qemu(9000).status.start.post()
    final = wait(px, upid)
    assert final["exitstatus"] == "you can't start a vm if it's a template"
    assert px.nodes("sv1").tasks(upid).log.get()[-1]["t"] == "TASK ERROR: you can't start a vm if it's a template"


def test_bad_and_unknown_upids(px: Any) -> None:
    error = pve_error(lambda: px.nodes("sv1").tasks("UPID:nope").status.get(), 400, "Parameter verification failed.")
    assert error.errors == {"upid": "unable to parse worker upid"}
    unknown = "UPID:sv1:00001234:00005678:AABBCCDD:qmstart:100:root@pam:"
    error = pve_error(lambda: px.nodes("sv1").tasks(unknown).status.get(), 400, "Parameter verification failed.")
    assert error.errors == {"upid": "no such task"}


def test_task_list_and_stop(sim: PveSim, px: Any) -> None:
    wait(px, px.nodes("sv1").qemu(9000).clone.post(newid=101))
    sim.set_task_duration("qmclone", 30)
    running = px.nodes("sv1").qemu(9000).clone.post(newid=102)
    active = px.nodes("sv1").tasks.get(source="active")
    assert [t["upid"] for t in active] == [running]
    assert "status" not in active[0]
    archive = px.nodes("sv1").tasks.get()
    assert [t["status"] for t in archive] == ["OK"]
    assert archive[0]["endtime"] >= archive[0]["starttime"]
    assert px.nodes("sv1").tasks(running).delete() is None
    assert px.nodes("sv1").tasks(running).status.get()["exitstatus"] == "interrupted by signal"
    assert 102 not in sim.cluster.vms
    errors = px.nodes("sv1").tasks.get(errors=1)
    assert [t["upid"] for t in errors] == [running]
