"""Publishing a service's database for a desktop client, on the real Docker Engine with real MariaDB and PostgreSQL
servers: with the option on, a real client on this host connects to 127.0.0.1:<published port> with the shown
user and password and sees the app's database; off (the default, or after unpublishing) nothing listens there and
the port is free again."""

from __future__ import annotations

import os
import socket
import subprocess
from typing import Any

import pytest
from sqlalchemy import select

from cloudfaster.db.models import ServicePort
from tests.apps.support import create_form
from tests.apps.test_databases import real_database_images, sql
from tests.compose.support import free_port
from tests.support.app import Api

pytestmark = pytest.mark.docker
__all__ = ["real_database_images"]  # the module fixture that checks the stand-ins are real servers

ENGINES = ["mysql", "postgres"]


@pytest.fixture
def docker_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    """A port range of one port (``indirect`` with "one port"), else the defaults."""
    if getattr(request, "param", None) == "one port":
        port = free_port()
        return {"port_range_start": port, "port_range_end": port}
    return {}


def desktop_client(
    engine: str, host: str, port: int, password: str, statement: str
) -> subprocess.CompletedProcess[str]:
    """Run ``statement`` with the host's own client (not inside any container), as a desktop client would."""
    if engine == "mysql":
        argv = ["mariadb", f"-h{host}", f"-P{port}", "--protocol=TCP", "-uapp", "-N", "-B", "app", "-e", statement]
        env = {"MYSQL_PWD": password}
    else:
        argv = ["psql", "-X", "-q", "-t", "-A", "-h", host, "-p", str(port), "-U", "app", "-d", "app", "-c", statement]
        env = {"PGPASSWORD": password, "PGCONNECT_TIMEOUT": "10"}
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False, env={**os.environ, **env})


def docker_port(container: str) -> str:
    """What `docker port` says the container publishes."""
    found = subprocess.run(["docker", "port", container], capture_output=True, text=True, timeout=30, check=True)
    return found.stdout.strip()


def listening(port: int) -> bool:
    """Whether anything accepts a TCP connection on 127.0.0.1:``port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


async def reserved(api: Api, service_id: int) -> dict[str, int]:
    """The host ports the allocator holds for a service, by name."""
    async with api.app.state.cf.instance.db.read() as session:
        rows = (await session.execute(select(ServicePort).where(ServicePort.service_id == service_id))).scalars()
        return {row.name: row.port for row in rows}


async def shown(api: Api, me: dict[str, str], service_id: int) -> dict[str, Any]:
    resp = await api.client.get(f"/service/{service_id}", headers=me)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


@pytest.mark.parametrize("engine", ENGINES)
async def test_a_published_database_takes_a_desktop_client_and_an_unpublished_one_nothing(
    api: Api, engine: str
) -> None:
    me = api.as_key(await api.new_user("desk"))
    resp = await api.client.post(
        "/service?wait=120", headers=me, **create_form("desk", [engine, "php"], publish_database="true")
    )
    assert resp.status_code == 201, resp.text
    service = resp.json()
    [database] = service["databases"]
    password = database["password"]
    assert (database["host"], database["port"]) == (engine, 3306 if engine == "mysql" else 5432)  # the app's view
    assert database["published_host"] == "127.0.0.1"
    port = database["published_port"]
    assert isinstance(port, int)
    assert service["ports"][engine] == port
    assert (await reserved(api, service["id"]))[engine] == port

    # GET shows the published address (and never the password again).
    [again] = (await shown(api, me, service["id"]))["databases"]
    assert again == database | {"password": None}
    containers = {c["service"]: c for c in (await shown(api, me, service["id"]))["containers"]}
    assert containers[engine]["ports"] == [port]
    inner = 3306 if engine == "mysql" else 5432
    assert docker_port(containers[engine]["name"]) == f"{inner}/tcp -> 127.0.0.1:{port}"  # the bind address only

    statement = "CREATE TABLE notes (body VARCHAR(20)); INSERT INTO notes VALUES ('from my desk');"
    made = desktop_client(engine, "127.0.0.1", port, password, statement)
    assert made.returncode == 0, made.stderr
    # It is the app's own database: the app's connection inside the network sees the row.
    inside = sql(api, service, engine, password, "SELECT body FROM notes")
    assert (inside.returncode, inside.stdout.strip()) == (0, "from my desk"), inside.stderr
    refused = desktop_client(engine, "127.0.0.1", port, password + "x", "SELECT 1")
    assert refused.returncode != 0

    resp = await api.client.post(f"/service/{service['id']}/database/unpublish?wait=120", headers=me)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["operation"]["kind"] == "service.db-unpublish"
    assert body["operation"]["state"] == "succeeded", body
    [database] = body["databases"]
    assert (database["published_host"], database["published_port"]) == (None, None)
    assert engine not in body["ports"]
    assert engine not in await reserved(api, service["id"])
    assert not listening(port)
    assert desktop_client(engine, "127.0.0.1", port, password, "SELECT 1").returncode != 0
    after = await shown(api, me, service["id"])
    assert after["status"] == "running"
    assert all(c["state"] == "running" and c["health"] in ("healthy", "") for c in after["containers"]), after
    assert {c["service"]: c["ports"] for c in after["containers"]}[engine] == []
    # Unpublishing what is not published starts nothing.
    resp = await api.client.post(f"/service/{service['id']}/database/unpublish", headers=me)
    assert (resp.status_code, resp.json()["operation"]) == (200, None)

    # Published again later, by the operation: a port that works, with the data kept.
    resp = await api.client.post(f"/service/{service['id']}/database/publish?wait=120", headers=me)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (body["operation"]["kind"], body["operation"]["state"]) == ("service.db-publish", "succeeded")
    [database] = body["databases"]
    port = database["published_port"]
    assert database["published_host"] == "127.0.0.1"
    assert body["ports"][engine] == port
    seen = desktop_client(engine, "127.0.0.1", port, password, "SELECT body FROM notes")
    assert (seen.returncode, seen.stdout.strip()) == (0, "from my desk"), seen.stderr
    resp = await api.client.post(f"/service/{service['id']}/database/publish", headers=me)
    assert (resp.status_code, resp.json()["operation"]) == (200, None)

    # The app still reaches its database inside the network after the database container was recreated.
    assert sql(api, service, engine, password, "SELECT 1").returncode == 0

    # A delete frees the published port with the others.
    resp = await api.client.delete(f"/service/{service['id']}?wait=120", headers=me)
    assert resp.status_code == 200, resp.text
    assert await reserved(api, service["id"]) == {}
    assert not listening(port)


async def test_off_by_default_and_refused_where_there_is_nothing_to_publish(api: Api) -> None:
    me = api.as_key(await api.new_user("plain"))
    resp = await api.client.post("/service?wait=120", headers=me, **create_form("plain", "mysql"))
    assert resp.status_code == 201, resp.text
    service = resp.json()
    [database] = service["databases"]
    assert (database["published_host"], database["published_port"]) == (None, None)
    assert set(service["ports"]) == {"files"}
    assert set(await reserved(api, service["id"])) == {"files"}
    containers = {c["service"]: c for c in (await shown(api, me, service["id"]))["containers"]}
    assert containers["mysql"]["ports"] == []
    assert docker_port(containers["mysql"]["name"]) == ""

    url = f"/service/{service['id']}/database/publish"
    resp = await api.client.post(f"{url}?engine=postgres", headers=me)
    assert (resp.status_code, resp.json()["error"]["code"]) == (422, "engine_invalid")
    other = api.as_key(await api.new_user("nosy"))
    assert (await api.client.post(url, headers=other)).status_code == 404
    assert "mysql" not in await reserved(api, service["id"])

    resp = await api.client.post("/service", headers=me, **create_form("site", "static", publish_database="true"))
    assert (resp.status_code, resp.json()["error"]["code"]) == (422, "publish_needs_database"), resp.text
    resp = await api.client.post("/service?wait=60", headers=me, **create_form("site", "static"))
    assert resp.status_code == 201, resp.text
    resp = await api.client.post(f"/service/{resp.json()['id']}/database/publish", headers=me)
    assert (resp.status_code, resp.json()["error"]["code"]) == (409, "service_has_no_database")

    # A stopped service is not published behind its owner's back: 409 until it runs.
    resp = await api.client.post(f"/service/{service['id']}/stop?wait=60", headers=me)
    assert resp.status_code == 200, resp.text
    resp = await api.client.post(url, headers=me)
    assert (resp.status_code, resp.json()["error"]["code"]) == (409, "service_state")
    assert "mysql" not in await reserved(api, service["id"])


@pytest.mark.parametrize("docker_overrides", ["one port"], indirect=True)
async def test_a_publish_without_a_free_port_fails_and_leaves_the_service_as_it_was(api: Api) -> None:
    me = api.as_key(await api.new_user("tight"))
    resp = await api.client.post("/service?wait=120", headers=me, **create_form("tight", "mysql"))
    assert resp.status_code == 201, resp.text
    service = resp.json()
    [files_port] = service["ports"].values()  # Filebrowser took the only port of the range

    resp = await api.client.post(f"/service/{service['id']}/database/publish?wait=120", headers=me)
    assert (resp.status_code, resp.json()["error"]["code"]) == (409, "ports_exhausted"), resp.text
    after = await shown(api, me, service["id"])
    assert after["status"] == "running"
    assert after["ports"] == {"files": files_port}
    assert await reserved(api, service["id"]) == {"files": files_port}
    [database] = after["databases"]
    assert (database["published_host"], database["published_port"]) == (None, None)
    assert {c["service"]: c["ports"] for c in after["containers"]}["mysql"] == []
    assert all(c["state"] == "running" for c in after["containers"]), after
