"""The Caddy admin client against a real Caddy: base config, routes by @id (idempotent), HTTPS with the internal CA,
http→https redirects, and a route change that leaves a request in flight alone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from cloudfaster.proxy.client import CaddyAdmin, admin_listen
from cloudfaster.proxy.config import BaseConfig, Route
from cloudfaster.proxy.errors import ProxyRequestError, ProxyUnavailableError
from cloudfaster.proxy.process import CaddyProcess
from tests.compose.support import free_port
from tests.proxy.support import Upstream, curl, https_get, serves_https, wait_for_root


@pytest.fixture
async def admin(caddy: CaddyProcess) -> AsyncIterator[CaddyAdmin]:
    client = CaddyAdmin(caddy.admin_url)
    yield client
    await client.aclose()


def base_for(caddy: CaddyProcess) -> tuple[BaseConfig, int, int]:
    https, http = free_port(), free_port()
    base = BaseConfig(
        admin_listen=caddy.admin_listen, https_listen=f"127.0.0.1:{https}", http_port=http, tls="internal"
    )
    return base, https, http


async def test_routes_serve_https_and_redirect_http(caddy: CaddyProcess, admin: CaddyAdmin) -> None:
    base, https, http = base_for(caddy)
    async with Upstream(b"hello through caddy").running() as up:
        await admin.load(base)
        assert base.matches(await admin.config())
        await admin.put(Route("r1", ("app.test",), f"127.0.0.1:{up.port}"))
        root = await wait_for_root(caddy)
        assert await serves_https("app.test", https, root, b"hello through caddy")
        done = await asyncio.to_thread(curl, "app.test", https, root)
        assert done.returncode == 0, done.stderr
        assert done.stdout == "hello through caddy"

        async with httpx.AsyncClient(trust_env=False) as client:
            resp = await client.get(f"http://127.0.0.1:{http}/p?q=1", headers={"Host": f"app.test:{http}"})
        assert resp.status_code == 308
        assert resp.headers["location"] == f"https://app.test:{https}/p?q=1"


async def test_put_is_idempotent_and_replaces_in_place(caddy: CaddyProcess, admin: CaddyAdmin) -> None:
    base, https, _ = base_for(caddy)
    async with Upstream(b"first").running() as one, Upstream(b"second").running() as two:
        await admin.load(base, [Route("other", ("other.test",), f"127.0.0.1:{one.port}")])
        route = Route("r1", ("app.test",), f"127.0.0.1:{one.port}")
        await admin.put(route)
        await admin.put(route)
        assert [r["@id"] for r in await admin.routes()] == ["other", "r1"]
        assert await admin.get("r1") == route.to_json()

        await admin.put(Route("r1", ("app.test",), f"127.0.0.1:{two.port}"))
        assert [r["@id"] for r in await admin.routes()] == ["other", "r1"]
        root = await wait_for_root(caddy)
        assert await serves_https("app.test", https, root, b"second")

        assert await admin.remove("r1") is True
        assert await admin.remove("r1") is False
        assert await admin.get("r1") is None
        assert [r["@id"] for r in await admin.routes()] == ["other"]
        with pytest.raises((httpx.HTTPError, OSError)):
            await https_get("app.test", https, root, timeout_s=3)  # no route left for the name: TLS fails


async def test_a_route_change_leaves_a_request_in_flight_alone(caddy: CaddyProcess, admin: CaddyAdmin) -> None:
    base, https, _ = base_for(caddy)
    async with Upstream(b"slow but whole", slow_s=2.0).running() as up, Upstream(b"new").running() as new:
        await admin.load(base, [Route("r1", ("app.test",), f"127.0.0.1:{up.port}")])
        root = await wait_for_root(caddy)
        assert await serves_https("app.test", https, root, b"slow but whole")
        in_flight = asyncio.create_task(https_get("app.test", https, root, "/slow"))
        await asyncio.sleep(0.5)
        await admin.put(Route("r2", ("b.test",), f"127.0.0.1:{new.port}"))
        await admin.put(Route("r1", ("app.test",), f"127.0.0.1:{new.port}"))
        await admin.remove("r2")
        assert not in_flight.done()
        resp = await in_flight
        assert (resp.status_code, resp.content) == (200, b"slow but whole")
        assert await serves_https("app.test", https, root, b"new")


async def test_errors_are_typed(caddy: CaddyProcess, admin: CaddyAdmin) -> None:
    with pytest.raises(ProxyRequestError) as refused:
        await admin.put(Route("r1", ("app.test",), "127.0.0.1:1"))  # no server loaded yet
    # Caddy 2.6.2 answers 500 "invalid traversal path" for a path into config it does not have.
    assert refused.value.status == 500
    assert "invalid traversal path" in refused.value.error
    down = CaddyAdmin(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ProxyUnavailableError):
        await down.ping()
    await down.aclose()
    with pytest.raises(ValueError, match="admin URL"):
        admin_listen("https://127.0.0.1")
