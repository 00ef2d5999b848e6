"""Users, API keys and quotas through the HTTP API, on every database backend."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.support.app import Api, make_settings, running_api


class TestAuthentication:
    async def test_missing_key_is_401_with_error_shape(self, api: Api) -> None:
        resp = await api.client.get("/users")
        assert resp.status_code == 401
        assert resp.json() == {"error": {"code": "missing_api_key", "message": "missing X-API-Key header"}}

    async def test_wrong_key_is_401(self, api: Api) -> None:
        for key in ("nonsense", "cf_000000000000_wrong-secret", "x" * 5000):
            resp = await api.client.get("/users", headers=api.as_key(key))
            assert resp.status_code == 401, key[:20]
            assert resp.json()["error"]["code"] == "invalid_api_key"

    async def test_user_key_cannot_use_admin_routes(self, api: Api) -> None:
        key = await api.new_user("alice")
        resp = await api.client.get("/users", headers=api.as_key(key))
        assert resp.status_code == 403
        assert resp.json()["error"]["code"] == "admin_required"
        resp = await api.client.post("/users", json={"userid": "eve", "username": "Eve"}, headers=api.as_key(key))
        assert resp.status_code == 403


class TestUsers:
    async def test_register_read_and_duplicate(self, api: Api) -> None:
        resp = await api.client.post("/users", json={"userid": "bob", "username": "Bob B."}, headers=api.admin)
        assert resp.status_code == 201
        assert resp.json()["userid"] == "bob"
        assert resp.json()["username"] == "Bob B."
        again = await api.client.post("/users", json={"userid": "bob", "username": "Other"}, headers=api.admin)
        assert again.status_code == 409
        assert again.json()["error"]["code"] == "userid_taken"
        got = await api.client.get("/users/bob", headers=api.admin)
        assert got.status_code == 200
        assert got.json()["username"] == "Bob B."

    async def test_bad_userids_are_422(self, api: Api) -> None:
        for userid in ("", "../etc", "a b", "x" * 65, "-lead", 42):
            resp = await api.client.post("/users", json={"userid": userid, "username": "U"}, headers=api.admin)
            assert resp.status_code == 422, userid
            assert resp.json()["error"]["code"] == "validation_failed"

    async def test_list_is_paginated(self, api: Api) -> None:
        for i in range(5):
            await api.client.post("/users", json={"userid": f"u{i}", "username": "U"}, headers=api.admin)
        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
            resp = await api.client.get("/users", params=params, headers=api.admin)
            assert resp.status_code == 200
            body = resp.json()
            seen += [u["userid"] for u in body["items"]]
            pages += 1
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert seen == [f"u{i}" for i in range(5)]
        assert pages == 3
        bad = await api.client.get("/users", params={"cursor": "!!!"}, headers=api.admin)
        assert bad.status_code == 400
        assert bad.json()["error"]["code"] == "invalid_cursor"

    async def test_delete_refused_while_user_owns_a_vm(self, api: Api) -> None:
        await api.new_user("carol")
        state = api.app.state.cf
        from sqlalchemy import select

        from cloudfaster.db.models import ProxmoxVM, User

        async with state.db.write() as session:
            user = (await session.execute(select(User).where(User.userid == "carol"))).scalar_one()
            session.add(
                ProxmoxVM(
                    vmid=4242, user_id=user.id, name="vm", os="debian-12", cores=1, memory_mb=512, disk_gb=8,
                    sshkeys="", status="enabled",
                )
            )  # fmt: skip
        resp = await api.client.delete("/users/carol", headers=api.admin)
        assert resp.status_code == 409
        assert resp.json()["error"]["code"] == "user_has_resources"
        assert (await api.client.get("/users/carol", headers=api.admin)).status_code == 200
        async with state.db.write() as session:
            vm = (await session.execute(select(ProxmoxVM).where(ProxmoxVM.vmid == 4242))).scalar_one()
            vm.status = "deleted"
        assert (await api.client.delete("/users/carol", headers=api.admin)).status_code == 204
        assert (await api.client.get("/users/carol", headers=api.admin)).status_code == 404

    async def test_deleting_a_user_kills_their_keys(self, api: Api) -> None:
        key = await api.new_user("dave")
        assert (await api.client.get("/users/dave", headers=api.as_key(key))).status_code == 200
        assert (await api.client.delete("/users/dave", headers=api.admin)).status_code == 204
        assert (await api.client.get("/users/dave", headers=api.as_key(key))).status_code == 401


class TestKeys:
    async def test_key_is_shown_once_and_listed_without_secret(self, api: Api) -> None:
        key = await api.new_user("erin")
        listed = await api.client.get("/keys", params={"userid": "erin"}, headers=api.admin)
        assert listed.status_code == 200
        items = listed.json()["items"]
        assert len(items) == 1
        assert "key" not in items[0]
        assert key.split("_")[1] == items[0]["prefix"]
        assert key not in listed.text

    async def test_revoked_key_is_refused_at_once(self, api: Api) -> None:
        key = await api.new_user("frank")
        assert (await api.client.get("/users/frank", headers=api.as_key(key))).status_code == 200
        prefix = key.split("_")[1]
        revoked = await api.client.delete(f"/keys/{prefix}", headers=api.admin)
        assert revoked.status_code == 200
        assert revoked.json()["revoked_at"] is not None
        resp = await api.client.get("/users/frank", headers=api.as_key(key))
        assert resp.status_code == 401
        assert resp.json()["error"]["code"] == "revoked_api_key"

    async def test_expiry(self, api: Api) -> None:
        await api.new_user("gina")
        past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
        resp = await api.client.post("/keys", json={"userid": "gina", "expires_at": past}, headers=api.admin)
        assert resp.status_code == 422
        naive = datetime.now().replace(microsecond=0).isoformat()
        resp = await api.client.post("/keys", json={"userid": "gina", "expires_at": naive}, headers=api.admin)
        assert resp.status_code == 422
        soon = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
        resp = await api.client.post("/keys", json={"userid": "gina", "expires_at": soon}, headers=api.admin)
        assert resp.status_code == 201
        key = resp.json()["key"]
        assert (await api.client.get("/users/gina", headers=api.as_key(key))).status_code == 200
        import asyncio

        await asyncio.sleep(1.2)
        resp = await api.client.get("/users/gina", headers=api.as_key(key))
        assert resp.status_code == 401
        assert resp.json()["error"]["code"] == "expired_api_key"

    async def test_user_may_create_own_key_but_not_admin_or_others(self, api: Api) -> None:
        key = await api.new_user("hank")
        await api.new_user("ivy")
        own = await api.client.post("/keys", json={"name": "ci"}, headers=api.as_key(key))
        assert own.status_code == 201
        assert own.json()["userid"] == "hank"
        assert (await api.client.get("/users/hank", headers=api.as_key(own.json()["key"]))).status_code == 200
        admin = await api.client.post("/keys", json={"admin": True}, headers=api.as_key(key))
        assert admin.status_code == 403
        other = await api.client.post("/keys", json={"userid": "ivy"}, headers=api.as_key(key))
        assert other.status_code == 403

    async def test_admin_key_creation(self, api: Api) -> None:
        resp = await api.client.post("/keys", json={"admin": True, "name": "ops"}, headers=api.admin)
        assert resp.status_code == 201
        assert resp.json()["admin"] is True
        assert (await api.client.get("/users", headers=api.as_key(resp.json()["key"]))).status_code == 200


class TestQuotas:
    async def test_defaults_override_and_reset(self, api: Api) -> None:
        key = await api.new_user("jack")
        resp = await api.client.get("/users/jack/quota", headers=api.as_key(key))
        assert resp.status_code == 200
        defaults = resp.json()["limits"]
        assert defaults["max_vms"] == 10
        assert resp.json()["usage"] == {
            "vms": 0, "vcpus": 0, "memory_mb": 0, "disk_gb": 0, "services": 0, "backups": 0, "backup_gb": 0.0
        }  # fmt: skip
        resp = await api.client.put("/users/jack/quota", json={"max_vms": 2, "max_services": 0}, headers=api.admin)
        assert resp.status_code == 200
        assert resp.json()["limits"]["max_vms"] == 2
        assert resp.json()["limits"]["max_services"] == 0
        assert resp.json()["limits"]["max_vcpus"] == defaults["max_vcpus"]
        resp = await api.client.put("/users/jack/quota", json={"max_vms": None}, headers=api.admin)
        assert resp.json()["limits"]["max_vms"] == 10
        assert resp.json()["limits"]["max_services"] == 0
        denied = await api.client.put("/users/jack/quota", json={"max_vms": 99}, headers=api.as_key(key))
        assert denied.status_code == 403
        for bad in ({"max_vms": -1}, {"max_vms": "lots"}, {"unknown": 1}):
            assert (await api.client.put("/users/jack/quota", json=bad, headers=api.admin)).status_code == 422


async def test_a_revoked_key_stops_on_other_replicas_within_the_cache_ttl(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, database_url)
    async with running_api(settings) as one, running_api(settings) as two:
        key = await one.new_user("ivy")
        assert (await two.client.get("/users/ivy", headers=two.as_key(key))).status_code == 200  # cached on two
        now = [time.monotonic()]
        two.app.state.cf.authenticator._cache._clock = lambda: now[0]  # two's cache clock, moved by the test
        assert (await one.client.delete(f"/keys/{key.split('_')[1]}", headers=one.admin)).status_code == 200
        assert (await one.client.get("/users/ivy", headers=one.as_key(key))).status_code == 401  # at once on one
        now[0] += 4.9
        assert (await two.client.get("/users/ivy", headers=two.as_key(key))).status_code == 200
        now[0] += 0.2  # past the README's bound of 5 s
        resp = await two.client.get("/users/ivy", headers=two.as_key(key))
        assert (resp.status_code, resp.json()["error"]["code"]) == (401, "revoked_api_key")
