"""Environment variables on the real Docker Engine: a round trip through ``PUT``/``GET /service/{id}/env`` with a
write-only secret, applied on the next restart (and not before), reserved names refused as on create."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from cloudfaster.db.models import DockerService
from cloudfaster.settings import Settings
from tests.apps.support import create_form, make_zip
from tests.support.app import Api

pytestmark = pytest.mark.docker


def container_env(api: Api, service: dict[str, Any]) -> dict[str, str]:
    settings: Settings = api.app.state.cf.instance.settings
    project = f"cf-{settings.docker.project_namespace}{service['id']}"
    done = subprocess.run(
        ["docker", "compose", "-p", project, "exec", "-T", "app", "env"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)


async def test_env_round_trip_with_a_write_only_secret(api: Api, tmp_path: Path) -> None:
    me = api.as_key(await api.new_user("max"))
    site = make_zip({"index.php": b'<?php echo getenv("GREETING");'})
    form = create_form("envy", "php", zip_bytes=site, env='{"GREETING": "hello"}')
    resp = await api.client.post("/service?wait=60", headers=me, **form)
    assert resp.status_code == 201, resp.text
    service = resp.json()
    url = f"/service/{service['id']}/env"
    # Values given on create count as secrets: the form cannot say which are.
    assert (await api.client.get(url, headers=me)).json() == {
        "variables": [{"name": "GREETING", "value": None, "secret": True}]
    }

    body = {
        "variables": [
            {"name": "GREETING", "value": 'bonjour $HOME "quoted"'},
            {"name": "API_TOKEN", "value": "tok-123-secret", "secret": True},
        ]
    }
    resp = await api.client.put(url, headers=me, json=body)
    assert resp.status_code == 200, resp.text
    shown = {"variables": [
        {"name": "API_TOKEN", "value": None, "secret": True},
        {"name": "GREETING", "value": "bonjour $HOME \"quoted\"", "secret": False},
    ]}  # fmt: skip
    assert resp.json() == shown
    resp = await api.client.get(url, headers=me)
    assert resp.json() == shown
    assert "tok-123-secret" not in resp.text
    assert "tok-123-secret" not in (await api.client.get(f"/service/{service['id']}", headers=me)).text
    # The secret never reaches the database: it waits in the service's 0600 secrets.env.
    async with api.app.state.cf.db.read() as session:
        row = (await session.execute(select(DockerService).where(DockerService.id == service["id"]))).scalar_one()
    assert "tok-123-secret" not in json.dumps(row.env)
    [service_dir] = list((tmp_path / "services" / "max").iterdir())
    assert stat.S_IMODE((service_dir / "secrets.env").stat().st_mode) == 0o600

    # Not applied until the next restart.
    assert container_env(api, service)["GREETING"] == "hello"
    resp = await api.client.post(f"/service/{service['id']}/restart?wait=60", headers=me)
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "running"
    env = container_env(api, service)
    assert (env["GREETING"], env["API_TOKEN"]) == ('bonjour $HOME "quoted"', "tok-123-secret")

    # A secret sent without a value keeps its stored one; a plain variable cannot.
    keep = {"variables": [{"name": "API_TOKEN", "secret": True}]}
    resp = await api.client.put(url, headers=me, json=keep)
    assert resp.status_code == 200, resp.text
    await api.client.post(f"/service/{service['id']}/restart?wait=60", headers=me)
    env = container_env(api, service)
    assert env["API_TOKEN"] == "tok-123-secret"
    assert "GREETING" not in env

    for variables, code in [
        ([{"name": "GREETING"}], "env_invalid"),
        ([{"name": "DB_PASSWORD", "value": "x"}], "env_invalid"),
        ([{"name": "COMPOSE_FILE", "value": "x"}], "env_invalid"),
        ([{"name": "bad name", "value": "x"}], "env_invalid"),
        ([{"name": "A", "value": "1"}, {"name": "A", "value": "2"}], "env_invalid"),
        ([{"name": "A", "value": "two\nlines"}], "env_invalid"),
    ]:
        resp = await api.client.put(url, headers=me, json={"variables": variables})
        assert (resp.status_code, resp.json()["error"]["code"]) == (422, code), resp.text
    assert (await api.client.get(url, headers=me)).json() == {
        "variables": [{"name": "API_TOKEN", "value": None, "secret": True}]
    }

    other = api.as_key(await api.new_user("ned"))
    assert (await api.client.get(url, headers=other)).status_code == 404
    assert (await api.client.put(url, headers=other, json=keep)).status_code == 404
