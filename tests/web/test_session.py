"""Dashboard sessions through the API on SQLite, MariaDB and PostgreSQL: cookie attributes, CSRF on writes, sign-out,
expiry and a revoked key ending its sessions, shared by two replicas on one database."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from cloudfaster.api.session_auth import SESSION_COOKIE
from tests.support.app import Api, make_settings, running_api

pytest_plugins = ["tests.support.fixtures"]


async def _sign_in(api: Api, key: str) -> tuple[str, str]:
    resp = await api.client.post("/session", json={"api_key": key})
    assert resp.status_code == 201, resp.text
    cookie = resp.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Path=/" in cookie
    assert key not in cookie
    assert key not in resp.text
    token = resp.cookies[SESSION_COOKIE]
    api.client.cookies.clear()
    return token, resp.json()["csrf_token"]


async def test_sign_in_read_write_and_sign_out(api: Api) -> None:
    key = await api.new_user("alice")
    token, csrf = await _sign_in(api, key)
    jar = {"Cookie": f"{SESSION_COOKIE}={token}"}
    resp = await api.client.get("/session", headers=jar)
    assert resp.status_code == 200
    assert resp.json()["userid"] == "alice"
    assert resp.json()["csrf_token"] == csrf
    assert (await api.client.get("/vm", headers=jar)).status_code == 200

    # A write with the cookie but without the CSRF token (what a cross-site form or fetch sends) is refused.
    before = await api.client.get("/keys", headers=jar)
    refused = await api.client.post("/keys", json={"name": "x"}, headers=jar)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "csrf_token_invalid"
    wrong = await api.client.post("/keys", json={"name": "x"}, headers={**jar, "X-CSRF-Token": "0" * 64})
    assert wrong.status_code == 403
    after = await api.client.get("/keys", headers=jar)
    assert len(after.json()["items"]) == len(before.json()["items"])  # nothing was made
    ok = await api.client.post("/keys", json={"name": "x"}, headers={**jar, "X-CSRF-Token": csrf})
    assert ok.status_code == 201

    assert (await api.client.delete("/session", headers=jar)).status_code == 403  # signing out needs it too
    out = await api.client.delete("/session", headers={**jar, "X-CSRF-Token": csrf})
    assert out.status_code == 204
    gone = await api.client.get("/vm", headers=jar)
    assert gone.status_code == 401
    assert gone.json()["error"]["code"] == "invalid_session"


async def test_a_revoked_key_ends_its_sessions(api: Api) -> None:
    key = await api.new_user("bob")
    token, _ = await _sign_in(api, key)
    jar = {"Cookie": f"{SESSION_COOKIE}={token}"}
    assert (await api.client.get("/vm", headers=jar)).status_code == 200
    prefix = key.split("_")[1]
    assert (await api.client.delete(f"/keys/{prefix}", headers=api.admin)).status_code == 200
    resp = await api.client.get("/vm", headers=jar)
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "revoked_api_key"


async def test_bad_sign_in_is_401_and_makes_no_session(api: Api) -> None:
    resp = await api.client.post("/session", json={"api_key": "cf_000000000000_nope"})
    assert resp.status_code == 401
    assert "set-cookie" not in resp.headers
    assert (await api.client.post("/session", json={})).status_code in (400, 422)
    assert (await api.client.get("/session")).status_code == 401


async def test_sessions_expire_and_replicas_share_them(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, database_url, dashboard={"session_ttl_s": 1.5})
    async with running_api(settings) as one, running_api(settings) as two:
        token, _ = await _sign_in(one, await one.new_user("carol"))
        jar = {"Cookie": f"{SESSION_COOKIE}={token}"}
        assert (await two.client.get("/session", headers=jar)).status_code == 200  # made on one, valid on two
        await asyncio.sleep(1.7)
        resp = await two.client.get("/vm", headers=jar)
        assert resp.status_code == 401
        assert resp.json()["error"]["code"] == "session_expired"


async def test_cookie_is_secure_over_https(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path}/cf.db")
    async with running_api(settings) as api:
        key = await api.new_user("dave")
        transport = httpx.ASGITransport(app=api.app)
        async with httpx.AsyncClient(transport=transport, base_url="https://cf.test") as client:
            resp = await client.post("/session", json={"api_key": key})
        assert resp.status_code == 201
        assert "Secure" in resp.headers["set-cookie"]
