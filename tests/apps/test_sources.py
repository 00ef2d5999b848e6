"""Sources on the real engine: a git repository served over https on 127.0.0.1, redeploys from ZIP and git refs
(the previous files stay until the new deployment is healthy), and a create that fails cleanly."""

from __future__ import annotations

from pathlib import Path

import pytest
import trustme

from tests.apps.gitserver import head_of, https_git_server, make_bare_repo
from tests.apps.support import create_form, files_under, make_zip, project_leftovers, serves, wait_operation
from tests.support.app import Api

pytestmark = pytest.mark.docker


async def test_git_repository_deploys_and_redeploys_a_new_ref(
    api: Api, tmp_path: Path, git_ca: tuple[trustme.CA, Path]
) -> None:
    me = api.as_key(await api.new_user("carol"))
    repos = tmp_path / "repos"
    bare = make_bare_repo(repos, {"index.html": b"<p>main branch</p>"}, branches={"v2": {"index.html": b"<p>v2</p>"}})
    with https_git_server(repos, git_ca[0]) as base:
        url = f"{base}/site.git"
        resp = await api.client.post(
            "/service?wait=60", headers=me, **create_form("from-git", "static", git_repo_url=url)
        )
        assert resp.status_code == 201, resp.text
        service = resp.json()
        assert (service["status"], service["source_type"], service["source_ref"]) == ("running", "git", url)
        assert service["status_detail"] is None
        assert await serves(service["urls"]["app"], b"main branch")

        resp = await api.client.post(
            f"/service/{service['id']}/deploy?wait=60", headers=me, data={"git_repo_url": url, "git_ref": "v2"}
        )
        assert resp.status_code == 200, resp.text
        assert (resp.json()["status"], resp.json()["source_ref"]) == ("running", f"{url}#v2")
        assert await serves(service["urls"]["app"], b"<p>v2</p>")
    op = await wait_operation(api, me, resp.json()["operation"]["id"])
    assert [s["name"] for s in op["steps"]] == ["record", "keep", "swap", "env", "up", "cleanup"]
    assert head_of(bare, "v2")
    service_dir = next((tmp_path / "services" / "carol").iterdir())
    assert sorted(p.name for p in service_dir.iterdir() if p.name.startswith(".data")) == []
    assert not (service_dir / "data" / ".git").exists()


async def test_redeploy_that_fails_keeps_the_previous_files_running(api: Api, tmp_path: Path) -> None:
    me = api.as_key(await api.new_user("dave"))
    v1 = make_zip({"package.json": b'{"scripts":{"build":"x"}}', "public/index.html": b"<div>v1</div>"})
    resp = await api.client.post("/service?wait=60", headers=me, **create_form("spa", "react", zip_bytes=v1))
    assert resp.status_code == 201, resp.text
    service = resp.json()
    app_url = service["urls"]["app"]
    assert await serves(app_url, b"v1")

    # No public/: the build step fails, `up --wait` fails, and v1 comes back.
    broken = make_zip({"package.json": b'{"scripts":{"build":"x"}}', "src/app.js": b"oops"})
    resp = await api.client.post(
        f"/service/{service['id']}/deploy?wait=90",
        headers=me,
        files={"zip_file": ("broken.zip", broken, "application/zip")},
    )
    assert resp.status_code == 502, resp.text  # a failed operation is never a 2xx
    error = resp.json()["error"]
    assert (error["code"], error["details"]["operation"]["state"]) == ("compose_failed", "failed")
    after = (await api.client.get(f"/service/{service['id']}", headers=me)).json()
    assert after["operation"]["state"] == "failed"
    assert after["status"] == "running"
    assert after["status_detail"]["rolled_back"] is True
    assert "build" in after["status_detail"]["output"]
    assert after["source_ref"] == "site.zip"  # still the first deployment
    assert await serves(app_url, b"v1")

    v2 = make_zip({"package.json": b'{"scripts":{"build":"x"}}', "public/index.html": b"<div>v2</div>"})
    resp = await api.client.post(
        f"/service/{service['id']}/deploy?wait=90", headers=me, files={"zip_file": ("v2.zip", v2, "application/zip")}
    )
    assert (resp.status_code, resp.json()["status"], resp.json()["source_ref"]) == (200, "running", "v2.zip")
    assert await serves(app_url, b"v2")
    assert files_under(tmp_path / "services" / ".staging") == []


async def test_a_create_that_fails_leaves_nothing_running(api: Api, tmp_path: Path) -> None:
    me = api.as_key(await api.new_user("erin"))
    broken = make_zip({"package.json": b"{}", "src/index.js": b""})  # react without public/: the build fails
    resp = await api.client.post("/service?wait=90", headers=me, **create_form("bad", "react", zip_bytes=broken))
    assert resp.status_code == 502, resp.text  # a failed operation is never a 2xx
    error = resp.json()["error"]
    assert error["code"] == "compose_failed"
    assert resp.headers["Location"] == error["details"]["operation"]["url"]
    [listed] = (await api.client.get("/service", headers=me)).json()["items"]
    body = (await api.client.get(f"/service/{listed['id']}", headers=me)).json()
    assert body["operation"]["state"] == "failed"
    assert body["status"] == "failed"
    assert body["status_detail"]["code"] == "compose_failed"
    assert "didn't complete successfully" in body["status_detail"]["output"]
    assert any("npm stand-in: no public/" in line for line in body["status_detail"]["logs"])
    assert body["ports"] == {}
    assert project_leftovers(f"cf-{api.app.state.cf.settings.docker.project_namespace}{body['id']}") == {}
    assert files_under(tmp_path / "services") == []
    # A failed service can be deleted; that frees its quota slot.
    resp = await api.client.delete(f"/service/{body['id']}?wait=30", headers=me)
    assert resp.json()["status"] == "deleted"
