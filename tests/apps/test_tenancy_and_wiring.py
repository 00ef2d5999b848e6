"""Tenancy (another user's service is a 404 on every route), idempotent creates, admin listing, the php + mysql
wiring through the service network and .env, and the docker readiness probe."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from cloudfaster.apps.envfile import parse_env_file
from tests.apps.support import create_form, make_zip
from tests.support.app import Api

pytestmark = pytest.mark.docker


async def test_another_users_service_is_a_404_everywhere(api: Api) -> None:
    alice = api.as_key(await api.new_user("alice"))
    bob = api.as_key(await api.new_user("bob"))
    resp = await api.client.post("/service?wait=60", headers=alice, **create_form("mine", "static"))
    assert resp.status_code == 201, resp.text
    sid = resp.json()["id"]

    calls = [
        ("GET", f"/service/{sid}", {}),
        ("GET", f"/service/{sid}/logs", {}),
        ("GET", f"/service/{sid}/logs?follow=true", {}),
        ("POST", f"/service/{sid}/start", {}),
        ("POST", f"/service/{sid}/stop", {}),
        ("POST", f"/service/{sid}/restart", {}),
        ("POST", f"/service/{sid}/deploy", {"files": {"zip_file": ("a.zip", make_zip({"a": b"b"}), "x")}}),
        ("DELETE", f"/service/{sid}", {}),
    ]
    for method, path, extra in calls:
        resp = await api.client.request(method, path, headers=bob, **extra)  # type: ignore[arg-type]
        assert resp.status_code == 404, (method, path, resp.text)
        assert resp.json()["error"]["code"] == "not_found"
    # Same answer as for a service that does not exist at all.
    assert (await api.client.get("/service/999999", headers=bob)).json() == (
        await api.client.get(f"/service/{sid}", headers=bob)
    ).json()
    assert (await api.client.get("/service", headers=bob)).json()["items"] == []
    # Bob cannot create for Alice either.
    resp = await api.client.post("/service", headers=bob, **create_form("x", "static", userid="alice"))
    assert resp.status_code == 403
    # Nothing Bob did touched Alice's service; the admin sees it and may act for her.
    assert (await api.client.get(f"/service/{sid}", headers=alice)).json()["status"] == "running"
    listed = (await api.client.get("/service", headers=api.admin)).json()["items"]
    assert [(s["id"], s["userid"]) for s in listed] == [(sid, "alice")]
    resp = await api.client.post("/service", headers=api.admin, **create_form("x", "static"))
    assert resp.json()["error"]["code"] == "userid_required"


async def test_idempotency_key_replays_the_same_create(api: Api, tmp_path: Path) -> None:
    me = api.as_key(await api.new_user("alice"))
    headers = {**me, "Idempotency-Key": "create-1"}
    site = make_zip({"index.html": b"once"})
    first = await api.client.post("/service?wait=60", headers=headers, **create_form("once", "static", zip_bytes=site))
    again = await api.client.post("/service?wait=60", headers=headers, **create_form("once", "static", zip_bytes=site))
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert first.json()["filebrowser"]["password"]
    assert again.json()["filebrowser"]["password"] is None  # shown once only
    other = make_zip({"index.html": b"different"})
    resp = await api.client.post("/service", headers=headers, **create_form("once", "static", zip_bytes=other))
    assert (resp.status_code, resp.json()["error"]["code"]) == (409, "idempotency_key_reused")
    assert len((await api.client.get("/service", headers=me)).json()["items"]) == 1
    # A second action while one is running is a 409.
    sid = first.json()["id"]
    stop = await api.client.post(f"/service/{sid}/stop", headers=me)
    assert stop.status_code == 202
    clash = await api.client.post(f"/service/{sid}/restart", headers=me)
    assert (clash.status_code, clash.json()["error"]["code"]) == (409, "operation_in_progress")


def compose_exec(project: str, service: str, script: str) -> subprocess.CompletedProcess[str]:
    argv = ["docker", "compose", "-p", project, "exec", "-T", service, "sh", "-c", script]
    return subprocess.run(argv, capture_output=True, text=True, errors="replace", timeout=60, check=False)


async def test_php_with_mysql_is_wired_through_the_network_and_env(api: Api, tmp_path: Path) -> None:
    me = api.as_key(await api.new_user("alice"))
    form = create_form(
        "shop",
        ["php", "mysql"],
        zip_bytes=make_zip({"index.php": b"<?php echo getenv('DB_HOST');"}),
        env='{"APP_MODE": "demo $HOME \\"quoted\\""}',
    )
    resp = await api.client.post("/service?wait=90", headers=me, **form)
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["status"] == "running"
    assert set(body["ports"]) == {"app", "files"}  # the database publishes nothing
    project = f"cf-{api.app.state.cf.settings.docker.project_namespace}{body['id']}"

    service = (await api.client.get(f"/service/{body['id']}", headers=me)).json()
    assert {c["service"]: (c["health"], c["ports"]) for c in service["containers"]}["mysql"] == ("healthy", [])

    env = parse_env_file(next((tmp_path / "services" / "alice").iterdir()).joinpath(".env").read_text())
    assert (env["DB_HOST"], env["DB_PORT"], env["APP_MODE"]) == ("mysql", "3306", 'demo $HOME "quoted"')
    reach = compose_exec(
        project, "app", 'nc -w 3 "$DB_HOST" "$DB_PORT" </dev/null >/dev/null && echo "reached $DB_HOST"'
    )
    assert "reached mysql" in reach.stdout, reach.stderr
    app_env = compose_exec(project, "app", "env").stdout
    assert f"DB_PASSWORD={env['DB_PASSWORD']}" in app_env
    assert 'APP_MODE=demo $HOME "quoted"' in app_env
    assert "MYSQL_ROOT_PASSWORD" not in app_env
    assert f"MYSQL_PASSWORD={env['DB_PASSWORD']}" in compose_exec(project, "mysql", "env").stdout


async def test_readiness_reports_docker(api: Api) -> None:
    resp = await api.client.get("/readyz")
    assert resp.json()["checks"]["docker"] == {"ok": True}
