"""Named VM sizes: seeded on the first start, listed by anyone, defined by admins, used by POST /vm."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from pvesim.testing import PveSim
from sqlalchemy import select

from cloudfaster.db.engine import Database
from cloudfaster.db.migrate import upgrade_to_head
from cloudfaster.db.models import VmSize
from cloudfaster.settings import ProxmoxSettings
from cloudfaster.vms.sizes import seed_sizes
from tests.support.app import Api
from tests.support.databases import BACKENDS, fresh_database
from tests.vms.helpers import vm_body, wait_op


def sized_body(name: str = "web-1", **overrides: Any) -> dict[str, Any]:
    """A VMCreate body without cores, memory or disk."""
    body = vm_body(name, **overrides)
    for field in ("cores", "memory", "disk"):
        if field not in overrides:
            body.pop(field)
    return body


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
async def test_defaults_are_seeded_and_admins_define_sizes(api: Api) -> None:
    key = await api.new_user("alice")
    listed = await api.client.get("/sizes", headers=api.as_key(key))
    assert listed.status_code == 200
    assert [(s["name"], s["cores"], s["memory"], s["disk"]) for s in listed.json()] == [
        ("large", 4, 8192, 80), ("medium", 2, 4096, 40), ("small", 1, 1024, 10),
    ]  # fmt: skip

    body = {"cores": 8, "memory": 16384, "disk": 200, "description": "for the database course"}
    created = await api.client.put("/sizes/xlarge", json=body, headers=api.admin)
    assert created.status_code == 201, created.text
    assert created.json() == {"name": "xlarge", **body}
    replaced = await api.client.put("/sizes/xlarge", json={**body, "cores": 6}, headers=api.admin)
    assert replaced.status_code == 200
    assert replaced.json()["cores"] == 6
    assert (await api.client.delete("/sizes/small", headers=api.admin)).status_code == 204
    names = [s["name"] for s in (await api.client.get("/sizes", headers=api.admin)).json()]
    assert names == ["large", "medium", "xlarge"]
    gone = await api.client.delete("/sizes/small", headers=api.admin)
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "size_not_found"


async def test_users_cannot_define_sizes_and_bad_sizes_are_422(api: Api) -> None:
    key = await api.new_user("alice")
    body = {"cores": 2, "memory": 2048, "disk": 20}
    assert (await api.client.put("/sizes/mine", json=body, headers=api.as_key(key))).status_code == 403
    assert (await api.client.delete("/sizes/small", headers=api.as_key(key))).status_code == 403
    for name, bad in [
        ("ok", {**body, "cores": "2"}),  # no lax coercion
        ("ok", {**body, "memory": 64}),
        ("ok", {**body, "extra": 1}),
        ("Not_Lower", body),
        ("x" * 33, body),
    ]:
        resp = await api.client.put(f"/sizes/{name}", json=bad, headers=api.admin)
        assert resp.status_code == 422, (name, bad, resp.text)
    names = [s["name"] for s in (await api.client.get("/sizes", headers=api.admin)).json()]
    assert names == ["large", "medium", "small"]


async def test_create_with_a_size_and_with_overrides(api: Api, sim: PveSim) -> None:
    key = await api.new_user("alice")
    resp = await api.client.post("/vm", json=sized_body("web-1", size="medium"), headers=api.as_key(key))
    assert resp.status_code == 202, resp.text
    assert (resp.json()["cores"], resp.json()["memory"], resp.json()["disk"]) == (2, 4096, 40)
    op = await wait_op(api, api.as_key(key), resp.headers["Location"])
    assert op["state"] == "succeeded", op
    pve = sim.cluster.vms[resp.json()["vmid"]]
    assert (pve.cpus, pve.memory_mib) == (2, 4096)
    assert "size=40G" in pve.config["scsi0"]

    resp = await api.client.post("/vm", json=sized_body("web-2", size="small", cores=3), headers=api.as_key(key))
    assert resp.status_code == 202, resp.text
    assert (resp.json()["cores"], resp.json()["memory"], resp.json()["disk"]) == (3, 1024, 10)
    # Explicit values alone still work, as before sizes existed.
    assert (await api.client.post("/vm", json=vm_body("web-3"), headers=api.as_key(key))).status_code == 202


async def test_unknown_size_names_the_sizes_and_nothing_is_made(api: Api, sim: PveSim) -> None:
    key = await api.new_user("alice")
    resp = await api.client.post("/vm", json=sized_body(size="huge"), headers=api.as_key(key))
    assert resp.status_code == 422, resp.text
    error = resp.json()["error"]
    assert error["code"] == "unknown_size"
    assert error["details"]["known"] == ["large", "medium", "small"]
    assert "large, medium, small" in error["message"]
    missing = await api.client.post("/vm", json=sized_body(cores=2), headers=api.as_key(key))
    assert missing.status_code == 422
    assert missing.json()["error"]["code"] == "size_required"
    assert missing.json()["error"]["details"]["missing"] == ["memory", "disk"]
    assert (await api.client.get("/vm", headers=api.as_key(key))).json()["items"] == []
    assert not [vm for vm in sim.cluster.vms.values() if not vm.is_template]


async def test_a_size_over_quota_is_refused(api: Api) -> None:
    key = await api.new_user("alice")
    quota = await api.client.put("/users/alice/quota", json={"max_vcpus": 3}, headers=api.admin)
    assert quota.status_code == 200, quota.text
    resp = await api.client.post("/vm", json=sized_body(size="large"), headers=api.as_key(key))
    assert resp.status_code == 409
    assert resp.json()["error"]["code"] == "quota_exceeded"
    assert resp.json()["error"]["details"]["vcpus"] == {"limit": 3, "in_use": 0, "requested": 4}
    small = await api.client.post("/vm", json=sized_body(size="large", cores=1), headers=api.as_key(key))
    assert small.status_code == 202, small.text


@pytest.mark.parametrize("backend", BACKENDS)
async def test_processes_starting_together_seed_the_sizes_once(backend: str, tmp_path: Path) -> None:
    # An API and workers starting at once on InnoDB used to deadlock on these inserts and crash one of them.
    defaults = ProxmoxSettings().sizes
    async with fresh_database(backend, tmp_path) as url:
        engines = [Database(url) for _ in range(4)]
        try:
            await upgrade_to_head(engines[0])
            written = await asyncio.gather(*(seed_sizes(db, defaults) for db in engines for _ in range(2)))
            async with engines[0].read() as session:
                names = sorted((await session.execute(select(VmSize.name))).scalars())
        finally:
            for db in engines:
                await db.dispose()
    assert sum(written) == len(defaults)
    assert names == sorted(defaults)
