"""Reading, listing, resizing, power actions, consoles and deletion of a VM."""

from __future__ import annotations

from typing import Any

import pytest
from pvesim.testing import PveSim

from tests.support.app import Api
from tests.vms.helpers import create_vm, wait_op


@pytest.fixture
async def owned(api: Api) -> tuple[dict[str, str], int]:
    """A running VM of alice's: her headers and its vmid."""
    key = await api.new_user("alice")
    vm = await create_vm(api, api.as_key(key), name="box", cores=2, memory=2048, disk=20)
    return api.as_key(key), int(vm["vmid"])


async def act(api: Api, headers: dict[str, str], vmid: int, action: str, **body: Any) -> Any:
    """Run a power action; wait for its operation if one started. Returns the first response."""
    resp = await api.client.post(f"/vm/{vmid}/{action}", json=body or None, headers=headers)
    if resp.status_code == 202:
        op = await wait_op(api, headers, resp.headers["Location"])
        assert op["state"] == "succeeded", op
    return resp


async def power(api: Api, headers: dict[str, str], vmid: int) -> str:
    """The VM's live power state as GET /vm/{vmid} reports it."""
    state: str = (await api.client.get(f"/vm/{vmid}", headers=headers)).json()["live"]["power"]
    return state


async def test_power_actions_move_the_vm_between_states(api: Api, owned: tuple[dict[str, str], int]) -> None:
    headers, vmid = owned
    assert (await act(api, headers, vmid, "stop")).status_code == 202
    assert await power(api, headers, vmid) == "stopped"
    assert (await act(api, headers, vmid, "start")).status_code == 202
    assert await power(api, headers, vmid) == "running"
    assert (await act(api, headers, vmid, "suspend")).status_code == 202
    assert await power(api, headers, vmid) == "paused"
    assert (await act(api, headers, vmid, "resume")).status_code == 202
    assert await power(api, headers, vmid) == "running"
    assert (await act(api, headers, vmid, "reboot")).status_code == 202
    assert await power(api, headers, vmid) == "running"
    assert (await act(api, headers, vmid, "shutdown", timeout=30, force=True)).status_code == 202
    assert await power(api, headers, vmid) == "stopped"


async def test_an_action_already_satisfied_answers_200_and_does_nothing(
    api: Api, sim: PveSim, owned: tuple[dict[str, str], int]
) -> None:
    headers, vmid = owned
    tasks_before = len(sim.simulator.tasks.to_json())
    for action in ("start", "resume"):
        resp = await api.client.post(f"/vm/{vmid}/{action}", headers=headers)
        assert resp.status_code == 200, resp.text
        assert resp.json()["live"]["power"] == "running"
    assert "Location" not in resp.headers
    assert len(sim.simulator.tasks.to_json()) == tasks_before
    await act(api, headers, vmid, "stop")
    tasks_before = len(sim.simulator.tasks.to_json())
    for action in ("stop", "shutdown"):
        resp = await api.client.post(f"/vm/{vmid}/{action}", headers=headers)
        assert resp.status_code == 200, resp.text
    assert len(sim.simulator.tasks.to_json()) == tasks_before


@pytest.mark.parametrize(
    ("setup", "action", "message"),
    [
        (["stop"], "reboot", "not running"),
        (["stop"], "suspend", "not running"),
        (["stop"], "resume", "not running"),
        (["suspend"], "start", "paused"),
        (["suspend"], "shutdown", "paused"),
    ],
)
async def test_an_impossible_action_is_409(
    api: Api, owned: tuple[dict[str, str], int], setup: list[str], action: str, message: str
) -> None:
    headers, vmid = owned
    for step in setup:
        await act(api, headers, vmid, step)
    resp = await api.client.post(f"/vm/{vmid}/{action}", headers=headers)
    assert resp.status_code == 409, resp.text
    assert resp.json()["error"]["code"] == "invalid_power_action"
    assert message in resp.json()["error"]["message"]


async def test_unknown_action_is_422(api: Api, owned: tuple[dict[str, str], int]) -> None:
    headers, vmid = owned
    resp = await api.client.post(f"/vm/{vmid}/explode", headers=headers)
    assert resp.status_code == 422
    assert resp.json()["error"]["code"] == "validation_failed"


async def test_resize_while_running_leaves_cpu_and_memory_pending_until_reboot(
    api: Api, sim: PveSim, owned: tuple[dict[str, str], int]
) -> None:
    headers, vmid = owned
    resp = await api.client.patch(f"/vm/{vmid}", json={"cores": 4, "memory": 4096, "disk": 30}, headers=headers)
    assert resp.status_code == 202, resp.text
    assert resp.json()["cores"] == 4
    op = await wait_op(api, headers, resp.headers["Location"])
    assert op["state"] == "succeeded", op
    assert op["result"]["needs_reboot"] is True
    assert set(op["result"]["pending"]) == {"cores", "memory"}
    vm = (await api.client.get(f"/vm/{vmid}", headers=headers)).json()
    assert vm["status_detail"]["pending_reboot"] is True
    assert vm["live"]["pending"] == {"cores": "4", "memory": "4096"}
    assert vm["live"]["disk_bytes"] == 30 * 1024**3  # disks grow hot
    assert vm["live"]["cpus"] == 2
    await act(api, headers, vmid, "reboot")
    vm = (await api.client.get(f"/vm/{vmid}", headers=headers)).json()
    assert vm["live"]["cpus"] == 4
    assert vm["live"]["memory_bytes"] == 4096 * 1024**2
    assert vm["live"]["pending"] == {}
    assert "pending_reboot" not in (vm["status_detail"] or {})
    assert "size=30G" in sim.cluster.vms[vmid].config["scsi0"]


async def test_suspend_and_resume_keep_a_change_pending_until_reboot(
    api: Api, owned: tuple[dict[str, str], int]
) -> None:
    headers, vmid = owned
    resp = await api.client.patch(f"/vm/{vmid}", json={"cores": 4}, headers=headers)
    assert resp.status_code == 202, resp.text
    assert (await wait_op(api, headers, resp.headers["Location"]))["state"] == "succeeded"
    await act(api, headers, vmid, "suspend")
    await act(api, headers, vmid, "resume")
    vm = (await api.client.get(f"/vm/{vmid}", headers=headers)).json()
    assert vm["status_detail"]["pending_reboot"] is True
    assert vm["live"]["pending"] == {"cores": "4"}
    result = (await api.client.post("/vm/reconcile", headers=api.admin)).json()
    assert result["drifted"] == []  # the running 2 cores are our own change waiting for a reboot, not drift


async def test_resize_while_stopped_applies_at_once(api: Api, owned: tuple[dict[str, str], int]) -> None:
    headers, vmid = owned
    await act(api, headers, vmid, "stop")
    resp = await api.client.patch(f"/vm/{vmid}?wait=30", json={"memory": 1024}, headers=headers)
    assert resp.status_code == 200, resp.text
    assert resp.json()["operation"]["state"] == "succeeded"
    vm = (await api.client.get(f"/vm/{vmid}", headers=headers)).json()
    assert vm["memory"] == 1024
    assert vm["live"]["memory_bytes"] == 1024 * 1024**2
    assert vm["live"]["pending"] == {}


async def test_shrinking_the_disk_is_422(api: Api, owned: tuple[dict[str, str], int]) -> None:
    headers, vmid = owned
    resp = await api.client.patch(f"/vm/{vmid}", json={"disk": 10}, headers=headers)
    assert resp.status_code == 422
    error = resp.json()["error"]
    assert error["code"] == "disk_shrink"
    assert "disks can only grow" in error["message"]
    assert error["details"] == {"current_gb": 20, "requested_gb": 10}


async def test_resize_over_quota_is_409_and_changes_nothing(api: Api, owned: tuple[dict[str, str], int]) -> None:
    headers, vmid = owned
    await api.client.put("/users/alice/quota", json={"max_vcpus": 3}, headers=api.admin)
    resp = await api.client.patch(f"/vm/{vmid}", json={"cores": 4}, headers=headers)
    assert resp.status_code == 409
    assert resp.json()["error"]["code"] == "quota_exceeded"
    assert (await api.client.get(f"/vm/{vmid}", headers=headers)).json()["cores"] == 2


async def test_a_second_operation_while_one_runs_is_409(api: Api, owned: tuple[dict[str, str], int]) -> None:
    headers, vmid = owned
    first = await api.client.post(f"/vm/{vmid}/stop", headers=headers)
    assert first.status_code == 202
    second = await api.client.patch(f"/vm/{vmid}", json={"cores": 3}, headers=headers)
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "operation_in_progress"
    await wait_op(api, headers, first.headers["Location"])


async def test_vnc_console_is_a_cloudfaster_link(api: Api, sim: PveSim, owned: tuple[dict[str, str], int]) -> None:
    headers, vmid = owned
    resp = await api.client.post(f"/vm/{vmid}/console", json={"type": "vnc"}, headers=headers)
    assert resp.status_code == 200, resp.text
    link = resp.json()
    assert set(link) == {"type", "vmid", "url", "websocket_url", "websocket_protocol", "token", "expires_at"}
    assert link["url"] == f"http://cf.test/console/{vmid}/vnc#token={link['token']}"
    assert link["websocket_url"] == f"ws://cf.test/console/{vmid}/ws"
    assert link["websocket_protocol"] == f"cloudfaster-token.{link['token']}"
    assert str(sim.port) not in resp.text
    assert "PVEVNC" not in resp.text


async def test_spice_console_is_a_remote_viewer_file(api: Api, sim: PveSim, owned: tuple[dict[str, str], int]) -> None:
    headers, vmid = owned
    sim.call(lambda: sim.cluster.vms[vmid].config.update(vga="qxl"))  # a SPICE display
    resp = await api.client.post(f"/vm/{vmid}/console", json={"type": "spice"}, headers=headers)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/x-virt-viewer"
    assert resp.headers["content-disposition"] == f'attachment; filename="vm-{vmid}.vv"'
    lines = resp.text.splitlines()
    assert lines[0] == "[virt-viewer]"
    values = dict(line.split("=", 1) for line in lines[1:])
    assert values["type"] == "spice"
    assert values["host"].startswith("pvespiceproxy:")
    assert values["title"] == f"VM {vmid} - box"


async def test_console_of_a_stopped_vm_is_409(api: Api, owned: tuple[dict[str, str], int]) -> None:
    headers, vmid = owned
    await act(api, headers, vmid, "stop")
    for kind in ("vnc", "spice"):
        resp = await api.client.post(f"/vm/{vmid}/console", json={"type": kind}, headers=headers)
        assert resp.status_code == 409
        assert resp.json()["error"]["code"] == "vm_not_running"


async def test_delete_stops_destroys_and_keeps_the_record(
    api: Api, sim: PveSim, owned: tuple[dict[str, str], int]
) -> None:
    headers, vmid = owned
    resp = await api.client.delete(f"/vm/{vmid}", headers=headers)
    assert resp.status_code == 202
    assert resp.json()["status"] == "deleting"
    op = await wait_op(api, headers, resp.headers["Location"])
    assert op["state"] == "succeeded", op
    assert [s["name"] for s in op["steps"] if s["state"] == "done"] == ["stop", "destroy"]
    assert vmid not in sim.cluster.vms
    vm = (await api.client.get(f"/vm/{vmid}", headers=headers)).json()
    assert vm["status"] == "deleted"
    assert vm["deleted_at"] is not None
    assert vm["live"] is None
    assert (await api.client.get("/vm", headers=headers)).json()["items"] == []
    deleted = (await api.client.get("/vm?status=deleted", headers=headers)).json()["items"]
    assert [v["vmid"] for v in deleted] == [vmid]
    again = await api.client.delete(f"/vm/{vmid}", headers=headers)
    assert again.status_code == 200
    assert again.json()["status"] == "deleted"
    quota = (await api.client.get("/users/alice/quota", headers=headers)).json()
    assert quota["usage"]["vms"] == 0


async def test_delete_of_a_vm_removed_outside_cloudfaster(
    api: Api, sim: PveSim, owned: tuple[dict[str, str], int]
) -> None:
    headers, vmid = owned
    sim.call(lambda: sim.cluster.vms.pop(vmid))
    resp = await api.client.delete(f"/vm/{vmid}?wait=30", headers=headers)
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "deleted"


async def test_list_is_paginated_and_admins_filter(api: Api) -> None:
    alice = api.as_key(await api.new_user("alice"))
    bob = api.as_key(await api.new_user("bob"))
    for n in range(3):
        await create_vm(api, alice, name=f"a{n}", cores=1, memory=512, disk=10)
    await create_vm(api, bob, name="b0", cores=1, memory=512, disk=10, node="sv2")
    first = (await api.client.get("/vm?limit=2", headers=alice)).json()
    assert len(first["items"]) == 2
    second = (await api.client.get(f"/vm?limit=2&cursor={first['next_cursor']}", headers=alice)).json()
    assert [v["name"] for v in first["items"] + second["items"]] == ["a0", "a1", "a2"]
    assert second["next_cursor"] is None
    assert {v["userid"] for v in (await api.client.get("/vm", headers=bob)).json()["items"]} == {"bob"}
    everyone = (await api.client.get("/vm", headers=api.admin)).json()["items"]
    assert len(everyone) == 4
    only_bob = (await api.client.get("/vm?userid=bob", headers=api.admin)).json()["items"]
    assert [v["name"] for v in only_bob] == ["b0"]
    on_sv2 = (await api.client.get("/vm?node=sv2", headers=api.admin)).json()["items"]
    assert "b0" in [v["name"] for v in on_sv2]
    assert all(v["node"] == "sv2" for v in on_sv2)
    enabled = (await api.client.get("/vm?status=enabled", headers=api.admin)).json()["items"]
    assert len(enabled) == 4
    # A user key's userid filter cannot widen its view.
    assert {v["userid"] for v in (await api.client.get("/vm?userid=alice", headers=bob)).json()["items"]} == {"bob"}


async def test_another_users_vm_is_404_on_every_route(api: Api, owned: tuple[dict[str, str], int]) -> None:
    _, vmid = owned
    bob = api.as_key(await api.new_user("bob"))
    calls = [
        ("GET", f"/vm/{vmid}", None),
        ("PATCH", f"/vm/{vmid}", {"cores": 3}),
        ("DELETE", f"/vm/{vmid}", None),
        ("POST", f"/vm/{vmid}/console", {"type": "vnc"}),
        *(("POST", f"/vm/{vmid}/{action}", None) for action in
          ("start", "stop", "shutdown", "reboot", "suspend", "resume")),
    ]  # fmt: skip
    for method, url, body in calls:
        resp = await api.client.request(method, url, json=body, headers=bob)
        assert resp.status_code == 404, (method, url, resp.text)
        assert resp.json()["error"]["code"] == "vm_not_found"
    missing = await api.client.get("/vm/424242", headers=bob)
    assert missing.json() == {"error": {"code": "vm_not_found", "message": "VM 424242 not found"}}
    assert (await api.client.get(f"/vm/{vmid}", headers=api.admin)).status_code == 200
