"""Acceptance on the real Docker Engine and a real Caddy: every service answers at its https names, http redirects,
a deleted service's name no longer reaches it, and routes come back after Caddy or CloudFaster restarts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import trustme

from cloudfaster.proxy.client import CaddyAdmin
from cloudfaster.proxy.config import Route
from tests.apps.routing_support import APPS_DOMAIN, Rig, routing_rig
from tests.apps.support import create_form, http_get, make_zip
from tests.proxy.support import curl, https_get, serves_https, wait_for_root
from tests.support.app import Api, running_api
from tests.support.databases import fresh_database

pytestmark = pytest.mark.docker


@pytest.fixture
async def rig(tmp_path: Path, git_ca: tuple[trustme.CA, Path]) -> AsyncIterator[Rig]:
    from tests.apps.support import remove_projects

    async with fresh_database("sqlite", tmp_path) as url, routing_rig(tmp_path, url, git_ca[1]) as rig:
        try:
            yield rig
        finally:
            remove_projects("cf-" + rig.settings.docker.project_namespace)


def host_of(url: str) -> str:
    return urlsplit(url).hostname or ""


async def create(api: Api, me: dict[str, str], name: str, types: list[str], files: dict[str, bytes]) -> dict:  # type: ignore[type-arg]
    resp = await api.client.post("/service?wait=120", headers=me, **create_form(name, types, zip_bytes=make_zip(files)))
    assert resp.status_code == 201, resp.text
    body: dict = resp.json()  # type: ignore[type-arg]
    assert body["status"] == "running", body
    return body


async def unserved(rig: Rig, root: Path, pages: dict[str, bytes], timeout_s: float) -> list[str]:
    """The names that did not serve their page within ``timeout_s``."""
    checks = [serves_https(name, rig.https_port, root, body, timeout_s=timeout_s) for name, body in pages.items()]
    return [name for name, ok in zip(pages, await asyncio.gather(*checks), strict=True) if not ok]


async def test_services_at_https_names_through_caddy(rig: Rig) -> None:
    async with running_api(rig.settings) as api:
        me = api.as_key(await api.new_user("alice"))
        site = await create(api, me, "blog", ["static"], {"index.html": b"<h1>routed static site</h1>"})
        shop = await create(
            api, me, "Shop_2", ["php", "mysql"], {"index.php": b"<?php echo 1;", "index.html": b"<p>php site page</p>"}
        )

        blog_host = f"blog-alice.{APPS_DOMAIN}"
        assert site["urls"] == {
            "app": f"https://{blog_host}:{rig.https_port}/",
            "files": f"https://files-{blog_host}:{rig.https_port}/",
        }
        read = (await api.client.get(f"/service/{site['id']}", headers=me)).json()
        assert read["urls"] == site["urls"]
        shop_host = host_of(shop["urls"]["app"])
        assert shop_host.endswith(f"-shop-2-alice.{APPS_DOMAIN}")  # sanitised, with its hash
        assert host_of(shop["urls"]["files"]) == f"files-{shop_host}"

        root = await wait_for_root(rig.caddy)
        # The stand-in php image serves files as they are: its index.html is the page.
        status, php_page = await http_get(f"http://127.0.0.1:{shop['ports']['app']}/")
        assert (status, php_page) == (200, b"<p>php site page</p>")
        pages = {
            blog_host: b"routed static site",
            f"files-{blog_host}": b"File Browser",
            shop_host: php_page,
            f"files-{shop_host}": b"File Browser",
        }
        assert await unserved(rig, root, pages, timeout_s=15) == []
        done = await asyncio.to_thread(curl, blog_host, rig.https_port, root)
        assert (done.returncode, done.stdout) == (0, "<h1>routed static site</h1>"), done.stderr

        async with httpx.AsyncClient(trust_env=False) as plain:
            resp = await plain.get(f"http://127.0.0.1:{rig.http_port}/x?y=1", headers={"Host": blog_host})
        assert resp.status_code == 308
        assert resp.headers["location"] == f"https://{blog_host}:{rig.https_port}/x?y=1"

        ready = (await api.client.get("/readyz")).json()
        assert ready["checks"]["proxy"]["ok"] is True

        # Stopped: the name goes; started again: it is back.
        resp = await api.client.post(f"/service/{site['id']}/stop?wait=60", headers=me)
        assert resp.status_code == 200, resp.text
        assert not await serves_https(blog_host, rig.https_port, root, b"routed static site", timeout_s=1)
        resp = await api.client.post(f"/service/{site['id']}/start?wait=60", headers=me)
        assert resp.status_code == 200, resp.text
        assert await serves_https(blog_host, rig.https_port, root, b"routed static site", timeout_s=10)

        # Caddy killed and started from scratch: the worker re-asserts the base config and every route.
        await asyncio.to_thread(rig.restart_caddy)
        assert await unserved(rig, root, pages, timeout_s=10) == []

        resp = await api.client.delete(f"/service/{site['id']}?wait=60", headers=me)
        assert resp.status_code == 200, resp.text
        with pytest.raises((httpx.HTTPError, OSError)):
            await https_get(blog_host, rig.https_port, root, timeout_s=3)
        assert await serves_https(shop_host, rig.https_port, root, php_page, timeout_s=5)

    # CloudFaster restart: while it is down Caddy restarts empty and a stale route of ours appears; once it is
    # back, its routes are too, and the stale one is gone.
    await asyncio.to_thread(rig.restart_caddy)
    admin = CaddyAdmin(rig.caddy.admin_url)
    stale = f"cf-{rig.settings.docker.project_namespace}9999-app"
    try:
        async with running_api(rig.settings):
            assert await unserved(rig, root, {shop_host: php_page}, timeout_s=10) == []
            await admin.put(Route(stale, ("stale.apps.test",), "127.0.0.1:9"))
            for _ in range(50):
                if await admin.get(stale) is None:
                    break
                await asyncio.sleep(0.2)
            assert await admin.get(stale) is None
            ids = [r["@id"] for r in await admin.routes()]
            assert sorted(ids) == sorted(
                f"cf-{rig.settings.docker.project_namespace}{shop['id']}-{k}" for k in ("app", "files")
            )
    finally:
        await admin.aclose()
