"""Hostile or invalid create requests get a clear 4xx with a stable code and leave nothing behind: no file, no
container, no service record, no reserved port."""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path
from typing import Any

import pytest
import trustme
from sqlalchemy import func, select

from cloudfaster.db.models import DockerService, ServicePort
from tests.apps.gitserver import https_git_server, make_bare_repo, silent_listener
from tests.apps.support import create_form, files_under, make_zip, projects_with_prefix
from tests.support.app import Api

pytestmark = pytest.mark.docker


def zip_with_symlink() -> bytes:
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        link = zipfile.ZipInfo("evil-link")
        link.create_system = 3
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
        zf.writestr("index.html", b"x")
    return buffer.getvalue()


HOSTILE_ZIPS: dict[str, tuple[bytes, int, str]] = {
    "dot-dot": (make_zip({"../../escape.html": b"x"}), 422, "zip_path_traversal"),
    "absolute": (make_zip({"/etc/cron.d/evil": b"x"}), 422, "zip_path_traversal"),
    "backslash": (make_zip({"..\\..\\evil.html": b"x"}), 422, "zip_path_traversal"),
    "symlink": (zip_with_symlink(), 422, "zip_symlink"),
    "too-many-entries": (make_zip({f"f{i}.txt": b"" for i in range(1001)}), 422, "zip_too_many_entries"),
    "bomb": (make_zip({"zeros.bin": b"\0" * (20 * 1024 * 1024)}), 422, "zip_bomb"),
    "not-a-zip": (b"<html>this is not a zip</html>", 422, "zip_invalid"),
    "truncated": (make_zip({"index.html": b"x" * 5000})[:-30], 422, "zip_invalid"),
}


async def assert_nothing_left(api: Api, tmp_path: Path) -> None:
    settings = api.app.state.cf.settings
    assert files_under(tmp_path / "services") == []
    assert projects_with_prefix("cf-" + settings.docker.project_namespace) == []
    async with api.app.state.cf.db.read() as session:
        assert (await session.execute(select(func.count(DockerService.id)))).scalar_one() == 0
        assert (await session.execute(select(func.count(ServicePort.port)))).scalar_one() == 0


async def refused(api: Api, headers: dict[str, str], form: dict[str, Any], status: int, code: str) -> dict[str, Any]:
    resp = await api.client.post("/service", headers=headers, **form)
    assert resp.status_code == status, resp.text
    error: dict[str, Any] = resp.json()["error"]
    assert error["code"] == code
    assert error["message"]
    return error


async def test_hostile_zips_are_refused_and_leave_nothing(api: Api, tmp_path: Path) -> None:
    me = api.as_key(await api.new_user("mallory"))
    for name, (archive, status, code) in HOSTILE_ZIPS.items():
        error = await refused(api, me, create_form(name, "static", zip_bytes=archive), status, code)
        assert error["code"] == code, name
    await assert_nothing_left(api, tmp_path)


@pytest.mark.parametrize("docker_overrides", [{"max_unpacked_bytes": 256 * 1024}])
async def test_a_zip_too_large_when_unpacked_is_413(api: Api, tmp_path: Path) -> None:
    me = api.as_key(await api.new_user("mallory"))
    archive = make_zip({f"part{i}.bin": os.urandom(100 * 1024) for i in range(4)})
    await refused(api, me, create_form("big", "static", zip_bytes=archive), 413, "zip_too_large")
    await assert_nothing_left(api, tmp_path)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/site.git",
        "git://127.0.0.1/site.git",
        "ssh://git@127.0.0.1/site.git",
        "file:///etc",
        "/srv/repos/site.git",
        "./site.git",
        "--upload-pack=touch /tmp/pwned",
        "-c core.sshCommand=id https://example.com/x.git",
        "https://user:secret@example.com/x.git",
        "ext::sh -c touch% /tmp/pwned",
    ],
)
async def test_git_urls_that_are_not_plain_https_are_refused(api: Api, tmp_path: Path, url: str) -> None:
    me = api.as_key(await api.new_user("mallory"))
    await refused(api, me, create_form("git", "static", git_repo_url=url), 422, "git_url_invalid")
    await assert_nothing_left(api, tmp_path)


async def test_git_server_that_never_answers_times_out(api: Api, tmp_path: Path) -> None:
    me = api.as_key(await api.new_user("mallory"))
    with silent_listener() as port:
        form = create_form("slow", "static", git_repo_url=f"https://127.0.0.1:{port}/site.git")
        await refused(api, me, form, 422, "git_timeout")
    await assert_nothing_left(api, tmp_path)


@pytest.mark.parametrize("docker_overrides", [{"max_repo_bytes": 200 * 1024}])
async def test_a_repository_too_large_is_413(api: Api, tmp_path: Path, git_ca: tuple[trustme.CA, Path]) -> None:
    me = api.as_key(await api.new_user("mallory"))
    make_bare_repo(tmp_path / "repos", {"index.html": b"x", "blob.bin": os.urandom(600 * 1024)})
    with https_git_server(tmp_path / "repos", git_ca[0]) as base:
        form = create_form("huge", "static", git_repo_url=f"{base}/site.git")
        await refused(api, me, form, 413, "git_too_large")
        form = create_form("missing", "static", git_repo_url=f"{base}/nothing-here.git")
        await refused(api, me, form, 422, "git_clone_failed")
        form = create_form("badref", "static", git_repo_url=f"{base}/site.git", git_ref="--orphan")
        await refused(api, me, form, 422, "git_ref_invalid")
    await assert_nothing_left(api, tmp_path)


@pytest.mark.parametrize(
    "name", ["../etc", "a/b", "x;rm -rf /", "$(id)", "`id`", "a b", "..", ".hidden", "", "x" * 64, "a|b", "a\nb"]
)
async def test_service_names_with_path_or_shell_characters_are_refused(api: Api, tmp_path: Path, name: str) -> None:
    me = api.as_key(await api.new_user("mallory"))
    resp = await api.client.post("/service", headers=me, **create_form(name, "static"))
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"]["code"] in ("service_name_invalid", "validation_failed")
    await assert_nothing_left(api, tmp_path)


@pytest.mark.parametrize(
    ("types", "code"),
    [
        ("cobol", "service_types_invalid"),
        (["static", "wordpress"], "service_types_invalid"),
        ("php,node", "service_types_incompatible"),
        ("macos,mysql", "service_types_incompatible"),
        ("macos", "macos_disabled"),
    ],
)
async def test_unknown_or_impossible_types_are_refused(
    api: Api, tmp_path: Path, types: str | list[str], code: str
) -> None:
    me = api.as_key(await api.new_user("mallory"))
    error = await refused(api, me, create_form("t", types), 422, code)
    if code == "macos_disabled":
        assert "admin" in error["message"]
    await assert_nothing_left(api, tmp_path)


@pytest.mark.parametrize("docker_overrides", [{"macos_enabled": True, "kvm_device": "/nonexistent/kvm"}])
async def test_macos_without_kvm_is_a_clear_422(api: Api, tmp_path: Path) -> None:
    me = api.as_key(await api.new_user("mallory"))
    error = await refused(api, me, create_form("mac", "macos", memory_mb="4096"), 422, "kvm_unavailable")
    assert "/nonexistent/kvm is missing" in error["message"]
    await assert_nothing_left(api, tmp_path)


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"env": '{"DOCKER_HOST": "tcp://evil"}'}, "env_invalid"),
        ({"env": '{"DB_PASSWORD": "mine"}'}, "env_invalid"),
        ({"env": '{"OK": "line\\nbreak"}'}, "env_invalid"),
        ({"env": "[1, 2]"}, "env_invalid"),
        ({"env": "not json"}, "env_invalid"),
        ({"memory_mb": "999999"}, "limits_exceeded"),
        ({"cpus": "0"}, "limits_invalid"),
        ({"pids": "5"}, "limits_invalid"),
        ({"git_ref": "main"}, "source_ambiguous"),
    ],
)
async def test_bad_environment_limits_and_sources_are_refused(
    api: Api, tmp_path: Path, fields: dict[str, str], code: str
) -> None:
    me = api.as_key(await api.new_user("mallory"))
    form = create_form("x", "static")
    form["data"].update(fields)
    await refused(api, me, form, 422, code)
    await assert_nothing_left(api, tmp_path)


async def test_zip_and_git_together_are_refused(api: Api, tmp_path: Path) -> None:
    me = api.as_key(await api.new_user("mallory"))
    form = create_form("x", "static", zip_bytes=make_zip({"a": b"b"}), git_repo_url="https://example.com/x.git")
    await refused(api, me, form, 422, "source_ambiguous")
    await assert_nothing_left(api, tmp_path)


async def test_over_quota_is_409_before_any_side_effect(api: Api, tmp_path: Path) -> None:
    me = api.as_key(await api.new_user("mallory"))
    resp = await api.client.put("/users/mallory/quota", headers=api.admin, json={"max_services": 0})
    assert resp.status_code == 200, resp.text
    await refused(api, me, create_form("x", "static", zip_bytes=make_zip({"a": b"b"})), 409, "quota_exceeded")
    await assert_nothing_left(api, tmp_path)


async def test_a_misspelled_field_is_refused_not_ignored(api: Api, tmp_path: Path) -> None:
    me = api.as_key(await api.new_user("mallory"))
    files = {"file": ("site.zip", make_zip({"index.html": b"x"}), "application/zip")}
    resp = await api.client.post(
        "/service", headers=me, data={"service_name": "x", "service_types": "static"}, files=files
    )
    assert resp.status_code == 422, resp.text
    error = resp.json()["error"]
    assert error["code"] == "unknown_field"
    assert "zip_file" in error["details"]["allowed"]
    await assert_nothing_left(api, tmp_path)


async def test_two_zip_files_are_refused(api: Api, tmp_path: Path) -> None:
    me = api.as_key(await api.new_user("mallory"))
    files = [("zip_file", (f"{n}.zip", make_zip({"index.html": n.encode()}), "application/zip")) for n in "ab"]
    resp = await api.client.post(
        "/service", headers=me, data={"service_name": "x", "service_types": "static"}, files=files
    )
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"]["code"] == "duplicate_field"
    await assert_nothing_left(api, tmp_path)


async def test_a_json_body_is_415_saying_use_multipart(api: Api, tmp_path: Path) -> None:
    me = api.as_key(await api.new_user("mallory"))
    resp = await api.client.post("/service", headers=me, json={"service_name": "x", "service_types": ["static"]})
    assert resp.status_code == 415, resp.text
    assert "multipart/form-data" in resp.json()["error"]["message"]
    await assert_nothing_left(api, tmp_path)


async def test_helpful_messages_for_too_many_entries_and_private_hosts(api: Api, docker_overrides: Any) -> None:
    me = api.as_key(await api.new_user("mallory"))
    archive = make_zip({f"node_modules/m{i}.js": b"" for i in range(1001)})
    error = await refused(api, me, create_form("many", "node", zip_bytes=archive), 422, "zip_too_many_entries")
    assert "node_modules" in error["message"]


@pytest.mark.parametrize("docker_overrides", [{"git_allow_private_hosts": False}])
async def test_a_private_git_host_names_the_setting_that_allows_it(api: Api, tmp_path: Path) -> None:
    me = api.as_key(await api.new_user("mallory"))
    form = create_form("git", "static", git_repo_url="https://127.0.0.1/site.git")
    error = await refused(api, me, form, 422, "git_host_forbidden")
    assert "CLOUDFASTER_DOCKER__GIT_ALLOW_PRIVATE_HOSTS" in error["message"]
    await assert_nothing_left(api, tmp_path)


async def test_names_are_unique_per_owner_and_actions_already_satisfied_do_nothing(api: Api) -> None:
    import asyncio

    me = api.as_key(await api.new_user("alice"))
    other = api.as_key(await api.new_user("bob"))
    site = make_zip({"index.html": b"<h1>hi</h1>"})
    created = await api.client.post("/service?wait=60", headers=me, **create_form("blog", "static", zip_bytes=site))
    assert created.status_code == 201, created.text
    service_id = created.json()["id"]
    again = await api.client.post("/service", headers=me, **create_form("blog", "static", zip_bytes=site))
    assert (again.status_code, again.json()["error"]["code"]) == (409, "name_taken")
    racing = await asyncio.gather(
        *(api.client.post("/service", headers=me, **create_form("race", "static", zip_bytes=site)) for _ in range(3))
    )
    assert sorted(r.status_code for r in racing) == [202, 409, 409], [r.text for r in racing]
    theirs = await api.client.post("/service", headers=other, **create_form("blog", "static", zip_bytes=site))
    assert theirs.status_code == 202, theirs.text

    start = await api.client.post(f"/service/{service_id}/start", headers=me)
    assert (start.status_code, start.json()["status"], start.json()["operation"]) == (200, "running", None)
    assert (await api.client.post(f"/service/{service_id}/stop?wait=60", headers=me)).status_code == 200
    stop = await api.client.post(f"/service/{service_id}/stop", headers=me)
    assert (stop.status_code, stop.json()["status"], stop.json()["operation"]) == (200, "stopped", None)

    logs = await api.client.get(f"/service/{service_id}/logs", params={"container": "nope"}, headers=me)
    assert logs.status_code == 404, logs.text
    assert logs.json()["error"]["code"] == "container_not_found"
    assert "app" in logs.json()["error"]["details"]["containers"]

    deleted = await api.client.delete(f"/service/{service_id}?wait=60", headers=me)
    assert deleted.status_code == 200, deleted.text
    reused = await api.client.post("/service?wait=60", headers=me, **create_form("blog", "static", zip_bytes=site))
    assert reused.status_code == 201, reused.text
