"""Custom domains through the API with a real Caddy: the DNS answer, bad and taken names, tenancy, and the route
going live only once the name resolves to the proxy (resolution injected)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trustme

from cloudfaster.apps.routing import Routing
from tests.apps.routing_support import APPS_DOMAIN, Rig, routing_rig
from tests.apps.support import create_form, make_zip, remove_projects
from tests.proxy.support import serves_https, wait_for_root
from tests.support.app import running_api
from tests.support.databases import fresh_database

pytestmark = pytest.mark.docker


@pytest.fixture
async def rig(tmp_path: Path, git_ca: tuple[trustme.CA, Path]) -> AsyncIterator[Rig]:
    async with fresh_database("sqlite", tmp_path) as url, routing_rig(tmp_path, url, git_ca[1]) as rig:
        try:
            yield rig
        finally:
            remove_projects("cf-" + rig.settings.docker.project_namespace)


async def test_custom_domain_goes_live_when_it_resolves_to_the_proxy(rig: Rig) -> None:
    dns: dict[str, set[str]] = {f"blog-alice.{APPS_DOMAIN}": {"127.0.0.1"}}

    async def resolver(name: str) -> set[str]:
        return dns.get(name, set())

    async with running_api(rig.settings) as api:
        routing = api.app.state.cf.instance.apps.routing
        assert isinstance(routing, Routing)
        routing.resolver = resolver
        alice, bob = api.as_key(await api.new_user("alice")), api.as_key(await api.new_user("bob"))
        form = create_form("blog", ["static"], zip_bytes=make_zip({"index.html": b"custom domain page"}))
        resp = await api.client.post("/service?wait=90", headers=alice, **form)
        assert resp.status_code == 201, resp.text
        sid = resp.json()["id"]

        resp = await api.client.post(f"/service/{sid}/domains", headers=alice, json={"hostname": "WWW.Example.ORG."})
        assert resp.status_code == 201, resp.text
        domain = resp.json()
        cname = {"type": "CNAME", "name": "www.example.org", "value": f"blog-alice.{APPS_DOMAIN}"}
        assert (domain["hostname"], domain["status"], domain["dns_records"], domain["cname"]) == (
            "www.example.org", "pending", [cname], cname,
        )  # fmt: skip

        for bad, code in [("127.0.0.1", "domain_invalid"), ("*.example.org", "domain_invalid"),
                          ("example", "domain_invalid"), ("a..b", "domain_invalid"),
                          (f"x.{APPS_DOMAIN}", "domain_reserved")]:  # fmt: skip
            resp = await api.client.post(f"/service/{sid}/domains", headers=alice, json={"hostname": bad})
            assert (resp.status_code, resp.json()["error"]["code"]) == (422, code), bad
        resp = await api.client.post(f"/service/{sid}/domains", headers=alice, json={"hostname": "x.org", "y": 1})
        assert resp.status_code == 422
        # Another user's service is a 404 on every domain route.
        assert (await api.client.get(f"/service/{sid}/domains", headers=bob)).status_code == 404
        resp = await api.client.post(f"/service/{sid}/domains", headers=bob, json={"hostname": "bob.example.org"})
        assert resp.status_code == 404
        assert (await api.client.delete(f"/service/{sid}/domains/www.example.org", headers=bob)).status_code == 404

        root = await wait_for_root(rig.caddy)
        assert await serves_https(f"blog-alice.{APPS_DOMAIN}", rig.https_port, root, b"custom domain page")
        # Not yet resolving to the proxy: no route for it.
        assert not await serves_https("www.example.org", rig.https_port, root, b"custom domain page", timeout_s=1)
        dns["www.example.org"] = {"127.0.0.1"}
        assert await serves_https("www.example.org", rig.https_port, root, b"custom domain page", timeout_s=10)
        listed = (await api.client.get(f"/service/{sid}/domains", headers=alice)).json()
        assert [(d["hostname"], d["status"]) for d in listed] == [("www.example.org", "active")]

        # A second service cannot take the name.
        form = create_form("other", ["static"], zip_bytes=make_zip({"index.html": b"other"}))
        other = (await api.client.post("/service?wait=90", headers=bob, **form)).json()["id"]
        resp = await api.client.post(f"/service/{other}/domains", headers=bob, json={"hostname": "www.example.org"})
        assert (resp.status_code, resp.json()["error"]["code"]) == (409, "domain_taken")

        resp = await api.client.delete(f"/service/{sid}/domains/www.example.org", headers=alice)
        assert resp.status_code == 204
        assert not await serves_https("www.example.org", rig.https_port, root, b"custom domain page", timeout_s=1)
        resp = await api.client.delete(f"/service/{sid}/domains/www.example.org", headers=alice)
        assert (resp.status_code, resp.json()["error"]["code"]) == (404, "domain_not_found")


async def test_domains_answer_409_when_routing_is_off(tmp_path: Path, git_ca: tuple[trustme.CA, Path]) -> None:
    from tests.apps.conftest import service_settings

    async with (
        fresh_database("sqlite", tmp_path) as url,
        running_api(service_settings(tmp_path, url, git_ca[1])) as api,
    ):
        resp = await api.client.post("/service/1/domains", headers=api.admin, json={"hostname": "www.example.org"})
        assert (resp.status_code, resp.json()["error"]["code"]) == (409, "routing_disabled")
        ready = (await api.client.get("/readyz")).json()
        assert ready["checks"]["proxy"] == {"ok": False, "enabled": False, "error": "no reverse proxy is configured"}
