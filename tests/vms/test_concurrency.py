"""Concurrent creates and idempotency, on every database backend."""

from __future__ import annotations

import asyncio

import pytest
from pvesim.testing import PveSim

from tests.support.app import Api
from tests.support.databases import BACKENDS
from tests.vms.helpers import vm_body, wait_op

ALL_BACKENDS = pytest.mark.parametrize("database_url", BACKENDS, indirect=True)


@ALL_BACKENDS
async def test_fifty_concurrent_creates_give_fifty_vms_with_distinct_vmids(api: Api, sim: PveSim) -> None:
    users = {f"user{i}": await api.new_user(f"user{i}") for i in range(5)}
    bodies = [(key, vm_body(f"vm-{n}", cores=1, memory=512, disk=10)) for n in range(10) for key in users.values()]
    responses = await asyncio.gather(*(api.client.post("/vm", json=b, headers=api.as_key(k)) for k, b in bodies))
    assert [r.status_code for r in responses] == [202] * 50, [r.text for r in responses if r.status_code != 202]
    vmids = [r.json()["vmid"] for r in responses]
    assert len(set(vmids)) == 50
    ops = await asyncio.gather(
        *(
            wait_op(api, api.as_key(k), r.headers["Location"], limit_s=120, poll_s=0.5)
            for (k, _), r in zip(bodies, responses, strict=True)
        )
    )
    assert [op["state"] for op in ops] == ["succeeded"] * 50, [op["error"] for op in ops if op["error"]]
    created = {vmid: vm for vmid, vm in sim.cluster.vms.items() if not vm.is_template}
    assert sorted(created) == sorted(vmids)
    assert all(vm.status == "running" for vm in created.values())
    listed = (await api.client.get("/vm?limit=200", headers=api.admin)).json()["items"]
    assert sorted(v["vmid"] for v in listed) == sorted(vmids)
    assert {v["status"] for v in listed} == {"enabled"}


@ALL_BACKENDS
async def test_same_idempotency_key_sent_twice_concurrently_gives_one_vm(api: Api, sim: PveSim) -> None:
    key = await api.new_user("alice")
    headers = {**api.as_key(key), "Idempotency-Key": "create-web-1"}
    body = vm_body()
    first, second = await asyncio.gather(
        api.client.post("/vm", json=body, headers=headers),
        api.client.post("/vm", json=body, headers=headers),
    )
    assert first.status_code == 202, first.text
    assert second.status_code in (200, 202), second.text
    assert first.json()["vmid"] == second.json()["vmid"]
    assert first.headers["Location"] == second.headers["Location"]
    await wait_op(api, headers, first.headers["Location"])
    assert len([vm for vm in sim.cluster.vms.values() if not vm.is_template]) == 1
    listed = (await api.client.get("/vm", headers=headers)).json()["items"]
    assert [v["vmid"] for v in listed] == [first.json()["vmid"]]
    again = await api.client.post("/vm", json=body, headers=headers)
    assert again.status_code == 200
    assert again.json()["vmid"] == first.json()["vmid"]
    assert again.json()["status"] == "enabled"


async def test_same_idempotency_key_with_another_body_is_a_conflict(api: Api) -> None:
    key = await api.new_user("alice")
    headers = {**api.as_key(key), "Idempotency-Key": "k1"}
    assert (await api.client.post("/vm", json=vm_body("a"), headers=headers)).status_code == 202
    resp = await api.client.post("/vm", json=vm_body("b"), headers=headers)
    assert resp.status_code == 409
    assert resp.json()["error"]["code"] == "idempotency_key_reused"
