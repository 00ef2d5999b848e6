"""Semester end: DELETE /users/{userid}?cascade=true deletes the user's VMs (pvesim) and services (real Docker) as
operations, then the user; without cascade the 409 stays."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from pvesim.testing import PveSim, start_pvesim

from tests.apps.support import create_form, make_zip, projects_with_prefix, remove_projects
from tests.support.app import Api, make_settings, running_api
from tests.support.databases import BACKENDS, fresh_database
from tests.vms.conftest import proxmox_settings, sim_config
from tests.vms.helpers import create_vm, vm_body, wait_op


@pytest.fixture
def sim() -> Iterator[PveSim]:
    """A simulated cluster with short, real task durations."""
    with start_pvesim(sim_config()) as running:
        yield running


@pytest.fixture(params=["sqlite"])
async def api(request: pytest.FixtureRequest, sim: PveSim, tmp_path: Path) -> AsyncIterator[Api]:
    """CloudFaster with both halves: pointed at the simulator and at the real Docker Engine (own namespace)."""
    namespace = "t" + secrets.token_hex(4) + "-"
    docker = {"base_path": tmp_path / "services", "project_namespace": namespace, "healthcheck_interval_s": 0.5}
    async with fresh_database(request.param, tmp_path) as url:
        settings = make_settings(tmp_path, url, proxmox=proxmox_settings(sim), docker=docker)
        try:
            async with running_api(settings) as running:
                running.app.state.namespace = "cf-" + namespace
                yield running
        finally:
            remove_projects("cf-" + namespace)


def our_vms(sim: PveSim) -> list[int]:
    return [vmid for vmid, vm in sim.cluster.vms.items() if not vm.is_template]


async def test_without_cascade_the_409_stays(api: Api, sim: PveSim) -> None:
    key = await api.new_user("alice")
    await create_vm(api, api.as_key(key), name="one")
    resp = await api.client.delete("/users/alice", headers=api.admin)
    assert resp.status_code == 409
    assert resp.json()["error"]["code"] == "user_has_resources"
    assert "cascade=true" in resp.json()["error"]["message"]
    assert (await api.client.get("/users/alice", headers=api.admin)).status_code == 200


@pytest.mark.docker
async def test_cascade_deletes_vms_and_services_then_the_user(api: Api, sim: PveSim) -> None:
    key = await api.new_user("alice")
    me = api.as_key(key)
    vms = [(await create_vm(api, me, name=f"vm-{i}"))["vmid"] for i in range(2)]
    site = make_zip({"index.html": b"<h1>semester project</h1>"})
    made = await api.client.post("/service", headers=me, **create_form("site", "static", zip_bytes=site))
    assert made.status_code == 202, made.text
    assert (await wait_op(api, me, made.headers["Location"], limit_s=120))["state"] == "succeeded"
    namespace = api.app.state.namespace
    assert projects_with_prefix(namespace)
    other = await api.new_user("bob")
    kept = (await create_vm(api, api.as_key(other), name="bobs"))["vmid"]

    resp = await api.client.delete("/users/alice", params={"cascade": "true"}, headers=api.admin)
    assert resp.status_code == 202, resp.text
    assert resp.json()["userid"] == "alice"
    assert resp.json()["operation"]["kind"] == "user.delete"
    again = await api.client.delete("/users/alice", params={"cascade": "true"}, headers=api.admin)
    assert again.status_code == 202
    assert again.json()["operation"]["id"] == resp.json()["operation"]["id"]  # deleting twice is deleting once

    op = await wait_op(api, api.admin, resp.headers["Location"], limit_s=120)
    assert op["state"] == "succeeded", op
    assert op["result"]["user"] == "deleted"
    assert len(op["result"]["operations"]["proxmox"]) == 2
    assert len(op["result"]["operations"]["docker"]) == 1
    assert our_vms(sim) == [kept]
    assert not projects_with_prefix(namespace)
    assert (await api.client.get("/users/alice", headers=api.admin)).status_code == 404
    assert (await api.client.get("/vm", headers=me)).status_code == 401  # the user's keys went with them
    for vmid in vms:
        row = (await api.client.get(f"/vm/{vmid}", headers=api.admin)).json()
        assert row["status"] == "deleted"
    assert (await api.client.get(f"/vm/{kept}", headers=api.as_key(other))).json()["status"] == "enabled"


async def test_nothing_new_while_being_deleted_and_a_user_with_nothing_goes_at_once(api: Api, sim: PveSim) -> None:
    key = await api.new_user("alice")
    me = api.as_key(key)
    await create_vm(api, me, name="one")
    sim.set_task_duration("qmdestroy", 1.5)
    resp = await api.client.delete("/users/alice", params={"cascade": "true"}, headers=api.admin)
    assert resp.status_code == 202
    refused = await api.client.post("/vm", json=vm_body("late"), headers=me)
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "user_being_deleted"
    assert (await wait_op(api, api.admin, resp.headers["Location"]))["state"] == "succeeded"
    assert our_vms(sim) == []

    await api.new_user("carol")
    empty = await api.client.delete("/users/carol", params={"cascade": "true"}, headers=api.admin)
    assert empty.status_code == 202
    assert (await wait_op(api, api.admin, empty.headers["Location"]))["result"]["user"] == "deleted"
    assert (await api.client.delete("/users/nobody", params={"cascade": "true"}, headers=api.admin)).status_code == 404
    user_key = await api.new_user("dave")
    forbidden = await api.client.delete("/users/dave", params={"cascade": "true"}, headers=api.as_key(user_key))
    assert forbidden.status_code == 403


async def test_a_failed_vm_deletion_fails_the_cascade_and_keeps_the_user_then_a_retry_succeeds(
    api: Api, sim: PveSim
) -> None:
    key = await api.new_user("alice")
    vmid = (await create_vm(api, api.as_key(key), name="stuck"))["vmid"]
    sim.faults.fail_task("qmdestroy", "storage busy")
    resp = await api.client.delete("/users/alice", params={"cascade": "true"}, headers=api.admin)
    op = await wait_op(api, api.admin, resp.headers["Location"])
    assert op["state"] == "failed"
    assert op["error"]["code"] == "cascade_failed"
    assert op["error"]["details"][0]["target"] == str(vmid)
    assert (await api.client.get("/users/alice", headers=api.admin)).status_code == 200
    assert (await api.client.get(f"/vm/{vmid}", headers=api.as_key(key))).json()["status"] == "enabled"

    sim.faults.clear_task_failure("qmdestroy")
    retry = await api.client.delete("/users/alice", params={"cascade": "true"}, headers=api.admin)
    assert retry.json()["operation"]["id"] != resp.json()["operation"]["id"]
    assert (await wait_op(api, api.admin, retry.headers["Location"]))["state"] == "succeeded"
    assert our_vms(sim) == []


@pytest.mark.parametrize("api", BACKENDS, indirect=True)
async def test_cascade_on_every_database(api: Api, sim: PveSim) -> None:
    key = await api.new_user("alice")
    await create_vm(api, api.as_key(key), name="one")
    assert (await api.client.get("/users/alice", headers=api.admin)).status_code == 200  # now in the card cache
    resp = await api.client.delete("/users/alice", params={"cascade": "true"}, headers=api.admin)
    assert (await wait_op(api, api.admin, resp.headers["Location"]))["state"] == "succeeded"
    assert our_vms(sim) == []
    assert (await api.client.get("/users/alice", headers=api.admin)).status_code == 404  # and forgotten at once
