"""The acceptance path on a real Docker Engine: a static site from a ZIP, served, stopped, started, restarted,
deleted without leftovers; and the same create on MariaDB and PostgreSQL."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from sqlalchemy import select

from cloudfaster.apps.filebrowser import verify_password
from cloudfaster.db.models import ServicePort
from tests.apps.support import (
    create_form,
    files_under,
    make_zip,
    project_leftovers,
    refuses,
    serves,
    wait_operation,
)
from tests.support.app import Api

pytestmark = pytest.mark.docker


def port_listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


async def test_static_site_from_zip_end_to_end(api: Api, tmp_path: Path) -> None:
    key = await api.new_user("alice")
    me = api.as_key(key)
    site = make_zip({"index.html": b"<h1>hello from the API</h1>"})

    resp = await api.client.post("/service", headers=me, **create_form("blog", "static", zip_bytes=site))
    assert resp.status_code == 202, resp.text
    created = resp.json()
    assert created["status"] == "creating"
    assert resp.headers["location"] == f"/operations/{created['operation']['id']}"
    login = created["filebrowser"]
    assert login["password"]
    assert len(login["password"]) >= 12
    assert set(created["ports"]) == {"app", "files"}

    op = await wait_operation(api, me, created["operation"]["id"])
    assert op["state"] == "succeeded", op
    assert [s["name"] for s in op["steps"] if s["state"] == "done"] == [
        "directories",
        "record",
        "keep",
        "source",
        "render",
        "up",
    ]

    resp = await api.client.get(f"/service/{created['id']}", headers=me)
    assert resp.status_code == 200
    service = resp.json()
    assert service["status"] == "running"
    assert {(c["service"], c["state"], c["health"]) for c in service["containers"]} == {
        ("app", "running", "healthy"),
        ("files", "running", "healthy"),
    }
    urls = service["urls"]
    assert urls["app"] == f"http://127.0.0.1:{service['ports']['app']}/"
    assert await serves(urls["app"], b"hello from the API")
    assert await serves(urls["files"], b"File Browser")

    # The password was shown once; only Filebrowser's bcrypt hash is on disk, and it matches.
    root = tmp_path / "services" / "alice"
    [service_dir] = list(root.iterdir())
    fb_db = (service_dir / "filebrowser" / "database" / "filebrowser.db").read_text()
    assert f"user={login['username']}" in fb_db
    assert verify_password(login["password"], fb_db.split("hash=")[1].strip())
    assert login["password"] not in (await api.client.get(f"/service/{created['id']}", headers=me)).text

    resp = await api.client.post(f"/service/{created['id']}/stop?wait=60", headers=me)
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "stopped"
    assert await refuses(urls["app"])

    resp = await api.client.post(f"/service/{created['id']}/start?wait=60", headers=me)
    assert (resp.status_code, resp.json()["status"]) == (200, "running")
    assert await serves(urls["app"], b"hello from the API")

    resp = await api.client.post(f"/service/{created['id']}/restart?wait=60", headers=me)
    assert (resp.status_code, resp.json()["status"]) == (200, "running")
    assert await serves(urls["app"], b"hello from the API")

    resp = await api.client.delete(f"/service/{created['id']}?wait=60", headers=me)
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "deleted"
    project = service_dir.name
    assert project_leftovers(project) == {}
    assert not service_dir.exists()
    assert files_under(tmp_path / "services") == []
    assert await refuses(urls["app"])
    assert not any(port_listening(p) for p in service["ports"].values())
    async with api.app.state.cf.db.read() as session:
        assert list((await session.execute(select(ServicePort))).scalars()) == []

    # The record stays, as deleted; it leaves the default list.
    resp = await api.client.get(f"/service/{created['id']}", headers=me)
    assert (resp.json()["status"], resp.json()["containers"]) == ("deleted", [])
    assert (await api.client.get("/service", headers=me)).json()["items"] == []
    listed = (await api.client.get("/service?include_deleted=true", headers=me)).json()["items"]
    assert [s["id"] for s in listed] == [created["id"]]


async def test_create_and_delete_on_every_database(api_any_db: Api) -> None:
    api = api_any_db
    key = await api.new_user("bob")
    me = api.as_key(key)
    form = create_form("site", "static", zip_bytes=make_zip({"index.html": b"db-backed"}))
    resp = await api.client.post("/service?wait=90", headers=me, **form)
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["status"] == "running"
    assert await serves(body["urls"]["app"], b"db-backed")
    resp = await api.client.delete(f"/service/{body['id']}?wait=60", headers=me)
    assert resp.json()["status"] == "deleted"
