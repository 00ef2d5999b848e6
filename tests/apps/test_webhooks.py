"""Push webhooks: signatures as GitHub, Gitea and GitLab send them (unit), and on the real Docker Engine with a git
server on 127.0.0.1: a wrong or missing signature is refused with nothing deployed, a signed push to the deployed
branch redeploys the new commit."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import trustme
from sqlalchemy import select

from cloudfaster.apps.webhooks import WebhookSignatureError, verify
from cloudfaster.db.models import DockerService, ServicePort
from tests.apps.gitserver import head_of, https_git_server, make_bare_repo
from tests.apps.support import create_form, make_zip, serves, wait_operation
from tests.support.app import Api

SECRET = "s3cr3t" * 8
BODY = b'{"ref": "refs/heads/main"}'


def github(body: bytes, secret: str = SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"x-github-event": "push", "x-hub-signature-256": f"sha256={digest}", "content-type": "application/json"}


def gitea(body: bytes, secret: str = SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"x-gitea-event": "push", "x-gitea-signature": digest}


@pytest.mark.parametrize(
    "headers",
    [github(BODY), gitea(BODY), {"x-gitlab-event": "Push Hook", "x-gitlab-token": SECRET}],
    ids=["github", "gitea", "gitlab"],
)
def test_each_hosts_signature_is_accepted(headers: dict[str, str]) -> None:
    verify(SECRET, BODY, headers)


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        (github(BODY, "other"), "webhook_signature_invalid"),
        (github(BODY + b" "), "webhook_signature_invalid"),
        ({"x-hub-signature-256": "sha1=abc"}, "webhook_signature_invalid"),
        (gitea(BODY, "other"), "webhook_signature_invalid"),
        ({"x-gitlab-token": SECRET + "x"}, "webhook_signature_invalid"),
        ({"x-github-event": "push"}, "webhook_signature_missing"),
    ],
)
def test_wrong_or_missing_signatures_are_refused(headers: dict[str, str], code: str) -> None:
    with pytest.raises(WebhookSignatureError) as refused:
        verify(SECRET, BODY, headers)
    assert (refused.value.status_code, refused.value.code) == (401, code)


def commit(bare: Path, tmp_path: Path, files: dict[str, bytes]) -> str:
    """Push a new commit with ``files`` to the bare repository's main branch."""
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null"}
    work = tmp_path / "push"

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=work, env=env, check=True, capture_output=True)

    subprocess.run(["git", "clone", "-q", str(bare), str(work)], env=env, check=True, capture_output=True)
    for name, content in files.items():
        (work / name).write_bytes(content)
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-q", "-m", "update")
    git("push", "-q", "origin", "main")
    return head_of(bare)


@pytest.mark.docker
async def test_a_wrong_signature_deploys_nothing_and_a_signed_push_redeploys(
    api: Api, tmp_path: Path, git_ca: tuple[trustme.CA, Path]
) -> None:
    me = api.as_key(await api.new_user("kim"))
    repos = tmp_path / "repos"
    bare = make_bare_repo(repos, {"index.html": b"<p>first commit</p>"})
    with https_git_server(repos, git_ca[0]) as base:
        url = f"{base}/site.git"
        resp = await api.client.post(
            "/service?wait=60", headers=me, **create_form("hooked", "static", git_repo_url=url)
        )
        assert resp.status_code == 201, resp.text
        service = resp.json()
        assert await serves(service["urls"]["app"], b"first commit")

        resp = await api.client.put(f"/service/{service['id']}/webhook", headers=me)
        assert resp.status_code == 200, resp.text
        hook = resp.json()
        path = hook["url"].removeprefix("http://cf.test")
        assert path.startswith("/hooks/services/")
        assert hook["secret"] not in (await api.client.get(f"/service/{service['id']}", headers=me)).text

        new_commit = commit(bare, tmp_path, {"index.html": b"<p>second commit</p>"})
        repository = {"default_branch": "main"}
        payload = json.dumps({"ref": "refs/heads/main", "after": new_commit, "repository": repository}).encode()

        async def deliveries() -> list[dict[str, Any]]:
            resp = await api.client.get(f"/service/{service['id']}/deployments", headers=me)
            items: list[dict[str, Any]] = resp.json()["items"]
            return items

        for headers in (
            github(payload, "not the secret"),
            {"x-github-event": "push"},
            gitea(payload + b"x", hook["secret"]),
        ):
            resp = await api.client.post(path, content=payload, headers=headers)
            assert resp.status_code == 401, resp.text
            assert resp.json()["error"]["code"].startswith("webhook_signature_")
        resp = await api.client.post(
            "/hooks/services/not-a-hook", content=payload, headers=github(payload, hook["secret"])
        )
        assert resp.status_code == 404
        # Nothing was deployed: no new record, no operation, same content, still running.
        assert len(await deliveries()) == 1
        shown = (await api.client.get(f"/service/{service['id']}", headers=me)).json()
        assert shown["status"] == "running"
        assert shown["operation"]["kind"] == "service.create"
        assert await serves(service["urls"]["app"], b"first commit")

        resp = await api.client.post(
            path, content=b"{}", headers={**github(b"{}", hook["secret"]), "x-github-event": "ping"}
        )
        assert (resp.status_code, resp.json()["outcome"]) == (200, "pong")
        other = json.dumps({"ref": "refs/heads/feature", "repository": repository}).encode()
        resp = await api.client.post(path, content=other, headers=github(other, hook["secret"]))
        assert (resp.status_code, resp.json()["outcome"]) == (200, "ignored")

        resp = await api.client.post(path, content=payload, headers=github(payload, hook["secret"]))
        assert resp.status_code == 202, resp.text
        op = await wait_operation(api, me, resp.json()["operation"]["id"])
        assert op["state"] == "succeeded", op
        assert await serves(service["urls"]["app"], b"second commit")
        records = await deliveries()
        assert [(r["number"], r["state"], r["source_digest"]) for r in records][-1] == (2, "succeeded", new_commit)

        # A new PUT replaces the URL and secret: the old ones stop working.
        resp = await api.client.put(f"/service/{service['id']}/webhook", headers=me)
        assert (
            await api.client.post(path, content=payload, headers=github(payload, hook["secret"]))
        ).status_code == 404
        resp = await api.client.delete(f"/service/{service['id']}/webhook", headers=me)
        assert resp.status_code == 204


@pytest.mark.docker
async def test_a_zip_service_cannot_have_a_webhook(api: Api) -> None:

    me = api.as_key(await api.new_user("lou"))
    site = make_zip({"index.html": b"x"})
    resp = await api.client.post("/service", headers=me, **create_form("zipped", "static", zip_bytes=site))
    resp = await api.client.put(f"/service/{resp.json()['id']}/webhook", headers=me)
    assert (resp.status_code, resp.json()["error"]["code"]) == (409, "webhook_needs_git")


@pytest.mark.docker
async def test_a_deleted_services_webhook_is_gone_with_it(
    api: Api, tmp_path: Path, git_ca: tuple[trustme.CA, Path]
) -> None:
    me = api.as_key(await api.new_user("del"))
    repos = tmp_path / "repos"
    make_bare_repo(repos, {"index.html": b"<p>doomed</p>"})
    with https_git_server(repos, git_ca[0]) as base:
        resp = await api.client.post(
            "/service?wait=60", headers=me, **create_form("doomed", "static", git_repo_url=f"{base}/site.git")
        )
        assert resp.status_code == 201, resp.text
        service = resp.json()
        hook = (await api.client.put(f"/service/{service['id']}/webhook", headers=me)).json()
        path = hook["url"].removeprefix("http://cf.test")
        payload = json.dumps({"ref": "refs/heads/main", "repository": {"default_branch": "main"}}).encode()

        resp = await api.client.delete(f"/service/{service['id']}?wait=60", headers=me)
        assert resp.status_code == 200, resp.text

        # The secret URL is unknown now, even with the right signature: 404, not a 409 about the service's state.
        resp = await api.client.post(path, content=payload, headers=github(payload, hook["secret"]))
        assert (resp.status_code, resp.json()["error"]["code"]) == (404, "webhook_not_found"), resp.text
        # And no webhook comes back to a deleted service.
        resp = await api.client.put(f"/service/{service['id']}/webhook", headers=me)
        assert (resp.status_code, resp.json()["error"]["code"]) == (409, "service_state")

    async with api.app.state.cf.instance.db.read() as session:
        row = await session.get(DockerService, service["id"])
        assert row is not None
        assert (row.status, row.webhook_token_hash, row.webhook_secret) == ("deleted", None, None)
        ports = (await session.execute(select(ServicePort).where(ServicePort.service_id == row.id))).all()
        assert ports == []
    # The history stays, but nothing can be rolled back to: the kept sources went with the service's files.
    resp = await api.client.get(f"/service/{service['id']}/deployments", headers=me)
    [record] = resp.json()["items"]
    assert (record["state"], record["kept"]) == ("succeeded", False)
    resp = await api.client.post(f"/service/{service['id']}/deployments/1/rollback", headers=me)
    assert (resp.status_code, resp.json()["error"]["code"]) == (409, "deployment_not_kept"), resp.text
