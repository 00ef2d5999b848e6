"""Deployment history on the real Docker Engine: every deploy is a record with its source digest, result and
output; a rollback to the previous deployment serves the previous content (checked by URL); only the newest
``deployments_kept`` keep their source, and a rollback to an older one is refused with nothing started."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from tests.apps.support import create_form, http_get, make_zip, serves, wait_operation
from tests.support.app import Api

pytestmark = pytest.mark.docker

KEPT = 2


@pytest.fixture
def docker_overrides() -> dict[str, Any]:
    """Keep two deployments' sources, so the third deploy drops the first."""
    return {"deployments_kept": KEPT}


def site(text: str) -> bytes:
    return make_zip({"index.html": f"<h1>{text}</h1>".encode()})


async def deploy(api: Api, me: dict[str, str], service_id: int, zip_bytes: bytes) -> dict[str, Any]:
    resp = await api.client.post(
        f"/service/{service_id}/deploy?wait=60",
        headers=me,
        files={"zip_file": ("site.zip", zip_bytes, "application/zip")},
    )
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    assert body["status"] == "running", body
    return body


async def history(api: Api, me: dict[str, str], service_id: int) -> list[dict[str, Any]]:
    resp = await api.client.get(f"/service/{service_id}/deployments", headers=me)
    assert resp.status_code == 200, resp.text
    items: list[dict[str, Any]] = resp.json()["items"]
    return items


async def test_rollback_to_the_previous_deployment_serves_the_previous_content(api: Api, tmp_path: Path) -> None:
    me = api.as_key(await api.new_user("hal"))
    v1, v2, v3 = site("version one"), site("version two"), site("version three")
    resp = await api.client.post("/service?wait=60", headers=me, **create_form("history", "static", zip_bytes=v1))
    assert resp.status_code == 201, resp.text
    service = resp.json()
    url = service["urls"]["app"]
    assert await serves(url, b"version one")

    await deploy(api, me, service["id"], v2)
    assert await serves(url, b"version two")

    records = await history(api, me, service["id"])
    assert [(r["number"], r["state"], r["source_type"], r["kept"]) for r in records] == [
        (1, "succeeded", "zip", True),
        (2, "succeeded", "zip", True),
    ]
    assert [r["source_digest"] for r in records] == [hashlib.sha256(v).hexdigest() for v in (v1, v2)]
    assert all(r["started_at"] <= r["finished_at"] for r in records)
    assert all("Started" in r["output"] or "Running" in r["output"] or "Healthy" in r["output"] for r in records)

    resp = await api.client.post(f"/service/{service['id']}/deployments/1/rollback?wait=60", headers=me)
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "running"
    assert await serves(url, b"version one")
    status, _ = await http_get(url, timeout_s=5)
    assert status == 200
    records = await history(api, me, service["id"])
    assert (records[-1]["number"], records[-1]["rollback_of"], records[-1]["source_digest"]) == (
        3,
        1,
        records[0]["source_digest"],
    )

    # Only the newest two keep their source now: deployment 1's is gone, and a rollback to it is refused.
    assert [r["kept"] for r in records] == [False, True, True]
    service_dir = next((tmp_path / "services" / "hal").iterdir())
    assert sorted(p.name for p in (service_dir / "deployments").iterdir()) == ["2.zip", "3.zip"]
    assert (service_dir / "deployments" / "3.zip").read_bytes() == v1  # a rollback keeps the ZIP it deployed
    resp = await api.client.post(f"/service/{service['id']}/deployments/1/rollback", headers=me)
    assert (resp.status_code, resp.json()["error"]["code"]) == (409, "deployment_not_kept")
    resp = await api.client.post(f"/service/{service['id']}/deployments/9/rollback", headers=me)
    assert (resp.status_code, resp.json()["error"]["code"]) == (404, "deployment_not_found")
    assert len(await history(api, me, service["id"])) == 3
    assert await serves(url, b"version one")

    await deploy(api, me, service["id"], v3)
    assert await serves(url, b"version three")
    resp = await api.client.post(f"/service/{service['id']}/deployments/3/rollback?wait=60", headers=me)
    assert resp.status_code == 200, resp.text
    assert await serves(url, b"version one")
    assert [r["kept"] for r in await history(api, me, service["id"])] == [False, False, False, True, True]

    other = api.as_key(await api.new_user("ivy"))
    assert (await api.client.get(f"/service/{service['id']}/deployments", headers=other)).status_code == 404


async def test_a_failed_deployment_is_recorded_with_its_output_and_keeps_no_source(api: Api, tmp_path: Path) -> None:
    me = api.as_key(await api.new_user("jo"))
    v1 = make_zip({"package.json": b'{"scripts":{"build":"x"}}', "public/index.html": b"<div>good</div>"})
    resp = await api.client.post("/service?wait=90", headers=me, **create_form("spa", "react", zip_bytes=v1))
    assert resp.status_code == 201, resp.text
    service = resp.json()
    broken = make_zip({"package.json": b'{"scripts":{"build":"x"}}', "src/app.js": b"oops"})
    resp = await api.client.post(
        f"/service/{service['id']}/deploy?wait=90",
        headers=me,
        files={"zip_file": ("site.zip", broken, "application/zip")},
    )
    assert resp.status_code >= 400, resp.text
    op = await wait_operation(api, me, resp.json()["error"]["details"]["operation"]["id"])
    assert op["state"] == "failed"
    records = await history(api, me, service["id"])
    assert [(r["number"], r["state"], r["kept"]) for r in records] == [(1, "succeeded", True), (2, "failed", False)]
    assert records[1]["finished_at"] is not None
    assert records[1]["output"]
    assert records[0]["output"]  # the React build's output is part of the record
    service_dir = next((tmp_path / "services" / "jo").iterdir())
    assert sorted(p.name for p in (service_dir / "deployments").iterdir()) == ["1.zip"]
    assert await serves(service["urls"]["app"], b"good")
