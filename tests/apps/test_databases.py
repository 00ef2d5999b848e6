"""Databases on the real Docker Engine with real MariaDB and PostgreSQL servers in the stand-in images: connection
details (the password shown once and working), a dump exported from one service and imported into another gives
the same rows, a rotated password replaces the old one, and bad uploads are refused with nothing started."""

from __future__ import annotations

import gzip
import subprocess
from typing import Any

import pytest

from cloudfaster.settings import Settings
from tests.apps.support import create_form, wait_operation
from tests.support.app import Api
from tests.support.rig import require

pytestmark = pytest.mark.docker

MAX_DUMP = 256 * 1024

ROWS = [(1, "ada"), (2, "grace's"), (3, "ünïcødé")]
CLIENT = {
    "mysql": ["mariadb", "-h127.0.0.1", "-uapp", "-N", "-B", "app", "-e"],
    "postgres": ["psql", "-X", "-q", "-t", "-A", "-F", "\t", "-h", "127.0.0.1", "-U", "app", "-d", "app", "-c"],
}
PASSWORD_ENV = {"mysql": "MYSQL_PWD", "postgres": "PGPASSWORD"}


@pytest.fixture(scope="module", autouse=True)
def real_database_images() -> None:
    """The mysql and postgres stand-ins must be the real servers scripts/standin-images/build.sh makes (another
    checkout's older build.sh may have put the busybox ones back)."""
    for image, binary in (("mysql:8.4", "mariadbd"), ("postgres:18-alpine", "pg_dump")):
        probe = ["docker", "run", "--rm", "--entrypoint", "sh", image, "-c", f"command -v {binary}"]
        found = subprocess.run(probe, capture_output=True, text=True, timeout=60, check=False).returncode == 0
        require(found, f"a real database server in {image} (scripts/standin-images/build.sh)")


@pytest.fixture
def docker_overrides() -> dict[str, Any]:
    """Small dump limits, so the size checks are cheap to reach."""
    return {"max_dump_bytes": MAX_DUMP}


def settings_of(api: Api) -> Settings:
    settings: Settings = api.app.state.cf.instance.settings
    return settings


def project_of(service: dict[str, Any], api: Api) -> str:
    return f"cf-{settings_of(api).docker.project_namespace}{service['id']}"


def sql(
    api: Api, service: dict[str, Any], engine: str, password: str, statement: str
) -> subprocess.CompletedProcess[str]:
    """Run ``statement`` as the app's user over TCP inside the database container, as the app would connect."""
    argv = [
        "docker",
        "compose",
        "-p",
        project_of(service, api),
        "exec",
        "-T",
        "-e",
        f"{PASSWORD_ENV[engine]}={password}",
    ]
    return subprocess.run(
        [*argv, engine, *CLIENT[engine], statement], capture_output=True, text=True, timeout=60, check=False
    )


async def create_db_service(api: Api, me: dict[str, str], name: str, engine: str) -> dict[str, Any]:
    resp = await api.client.post("/service?wait=120", headers=me, **create_form(name, engine))
    assert resp.status_code == 201, resp.text
    body: dict[str, Any] = resp.json()
    assert body["status"] == "running", body
    return body


@pytest.mark.parametrize("engine", ["mysql", "postgres"])
async def test_dump_exported_from_one_service_and_imported_into_another_gives_the_same_rows(
    api: Api, engine: str
) -> None:
    me = api.as_key(await api.new_user("dora"))
    source = await create_db_service(api, me, "source", engine)
    [database] = source["databases"]
    password = database["password"]
    assert (database["engine"], database["host"], database["database"], database["user"]) == (
        engine,
        engine,
        "app",
        "app",
    )
    assert database["port"] == (3306 if engine == "mysql" else 5432)
    assert password
    assert len(password) >= 12

    # GET shows the connection, never the password again.
    shown = (await api.client.get(f"/service/{source['id']}", headers=me)).json()
    assert shown["databases"] == [database | {"password": None}]
    assert password not in (await api.client.get(f"/service/{source['id']}", headers=me)).text

    values = ", ".join(f"({i}, '{name.replace(chr(39), chr(39) * 2)}')" for i, name in ROWS)
    made = sql(api, source, engine, password, f"CREATE TABLE people (id INT PRIMARY KEY, name VARCHAR(40)); "
                                              f"INSERT INTO people VALUES {values};")  # fmt: skip
    assert made.returncode == 0, made.stderr

    resp = await api.client.post(f"/service/{source['id']}/database/export?wait=120", headers=me)
    assert resp.status_code == 200, resp.text
    op = await wait_operation(api, me, resp.json()["operation"]["id"])
    assert op["state"] == "succeeded", op
    download = op["result"]["download"]
    resp = await api.client.get(download, headers=me)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/gzip"
    assert resp.headers["content-disposition"].endswith('.sql.gz"')
    dump = resp.content
    assert "people" in gzip.decompress(dump).decode()

    target = await create_db_service(api, me, "target", engine)
    resp = await api.client.post(
        f"/service/{target['id']}/database/import?wait=120",
        headers=me,
        files={"dump": ("people.sql.gz", dump, "application/gzip")},
    )
    assert resp.status_code == 200, resp.text
    op = await wait_operation(api, me, resp.json()["operation"]["id"])
    assert op["state"] == "succeeded", op

    target_password = target["databases"][0]["password"]
    rows = sql(api, target, engine, target_password, "SELECT id, name FROM people ORDER BY id")
    assert rows.returncode == 0, rows.stderr
    assert [tuple(line.split("\t")) for line in rows.stdout.strip().splitlines()] == [(str(i), n) for i, n in ROWS]

    # Another user sees none of it.
    other = api.as_key(await api.new_user("eve"))
    assert (await api.client.get(download, headers=other)).status_code == 404
    resp = await api.client.post(f"/service/{source['id']}/database/export", headers=other)
    assert resp.status_code == 404


@pytest.mark.parametrize("engine", ["mysql", "postgres"])
async def test_rotated_password_works_and_the_old_one_no_longer_does(api: Api, engine: str) -> None:
    me = api.as_key(await api.new_user("fay"))
    service = await create_db_service(api, me, "rotating", engine)
    old = service["databases"][0]["password"]

    resp = await api.client.post(f"/service/{service['id']}/database/rotate-password?wait=120", headers=me)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["operation"]["state"] == "succeeded", body
    new = body["database"][0]["password"]
    assert new
    assert new != old

    assert sql(api, service, engine, new, "SELECT 1").returncode == 0
    refused = sql(api, service, engine, old, "SELECT 1")
    assert refused.returncode != 0
    # The app's environment carries the new password too (recreated with the rewritten .env).
    resp = await api.client.get(f"/service/{service['id']}", headers=me)
    assert resp.json()["status"] == "running"
    assert new not in resp.text


async def test_bad_dumps_are_refused_before_any_operation(api: Api) -> None:
    me = api.as_key(await api.new_user("gus"))
    service = await create_db_service(api, me, "picky", "mysql")
    url = f"/service/{service['id']}/database/import"

    cases = [
        (b"\x00\x01\x02 binary", 422, "dump_invalid"),
        (b"\x1f\x8b not really gzip", 422, "dump_invalid"),
        (b"-- sql\n" + b"x" * (MAX_DUMP + 1), 413, "dump_too_large"),
    ]
    for content, status, code in cases:
        resp = await api.client.post(url, headers=me, files={"dump": ("d.sql", content, "application/sql")})
        assert (resp.status_code, resp.json()["error"]["code"]) == (status, code), resp.text
    resp = await api.client.post(url, headers=me, data={"engine": "postgres"},
                                 files={"dump": ("d.sql", b"SELECT 1;", "application/sql")})  # fmt: skip
    assert (resp.status_code, resp.json()["error"]["code"]) == (422, "engine_invalid")

    # A dump the server rejects fails the operation with the server's message; the service stays up.
    resp = await api.client.post(
        f"{url}?wait=120", headers=me, files={"dump": ("d.sql", b"THIS IS NOT SQL;\n", "application/sql")}
    )
    # ?wait= answers the failed operation's error (422: the dump's fault, retrying cannot help).
    assert (resp.status_code, resp.json()["error"]["code"]) == (422, "dump_import_failed"), resp.text
    op = await wait_operation(api, me, resp.json()["error"]["details"]["operation"]["id"])
    assert op["state"] == "failed"
    assert "syntax" in str(op["error"]).lower()
    assert (await api.client.get(f"/service/{service['id']}", headers=me)).json()["status"] == "running"
    staging = settings_of(api).services_path / ".staging"
    assert not staging.exists() or not any(staging.iterdir())
