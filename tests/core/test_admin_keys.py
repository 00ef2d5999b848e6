"""The last admin key that does not expire can be neither revoked nor let to lapse, and a revocation that races
with an in-flight key lookup never re-caches the key; on every database backend."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from cloudfaster.core import apikeys
from cloudfaster.core.bootstrap import ensure_admin_key
from cloudfaster.core.errors import UnauthorizedError
from cloudfaster.core.keys import Authenticator, count_admin_keys
from cloudfaster.db.base import utcnow
from cloudfaster.db.models import ApiKey
from tests.support.app import ADMIN_KEY, Api

ADMIN_PREFIX = apikeys.lookup_prefix(ADMIN_KEY)


async def new_admin_key(api: Api, **body: Any) -> str:
    resp = await api.client.post("/keys", json={"admin": True, "name": "second", **body}, headers=api.admin)
    assert resp.status_code == 201, resp.text
    key: str = resp.json()["key"]
    return key


class TestLastAdminKey:
    async def test_the_only_admin_key_cannot_revoke_itself(self, api: Api) -> None:
        resp = await api.client.delete(f"/keys/{ADMIN_PREFIX}", headers=api.admin)
        assert resp.status_code == 409, resp.text
        assert resp.json()["error"]["code"] == "last_admin_key"
        assert "another admin key" in resp.json()["error"]["message"]
        still = await api.client.get("/users", headers=api.admin)
        assert still.status_code == 200

    async def test_with_a_second_admin_key_one_may_go_but_not_both(self, api: Api) -> None:
        second = await new_admin_key(api)
        resp = await api.client.delete(f"/keys/{ADMIN_PREFIX}", headers=api.as_key(second))
        assert resp.status_code == 200, resp.text
        assert resp.json()["revoked_at"] is not None
        last = await api.client.delete(f"/keys/{apikeys.lookup_prefix(second)}", headers=api.as_key(second))
        assert last.status_code == 409
        assert last.json()["error"]["code"] == "last_admin_key"
        assert (await api.client.get("/users", headers=api.as_key(second))).status_code == 200

    async def test_an_expiring_admin_key_does_not_count_as_a_successor(self, api: Api) -> None:
        soon = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
        expiring = await new_admin_key(api, expires_at=soon)
        resp = await api.client.delete(f"/keys/{ADMIN_PREFIX}", headers=api.as_key(expiring))
        assert resp.status_code == 409
        assert resp.json()["error"]["code"] == "last_admin_key"

    async def test_two_admins_revoking_each_other_at_once_leave_one(self, api: Api) -> None:
        second = await new_admin_key(api)
        first_gone, second_gone = await asyncio.gather(
            api.client.delete(f"/keys/{ADMIN_PREFIX}", headers=api.as_key(second)),
            api.client.delete(f"/keys/{apikeys.lookup_prefix(second)}", headers=api.admin),
        )
        statuses = sorted([first_gone.status_code, second_gone.status_code])
        # The loser is refused (409), or finds its own key already revoked (401) when the winner committed first.
        assert statuses in ([200, 409], [200, 401]), statuses
        async with api.app.state.cf.db.read() as session:
            assert await count_admin_keys(session) == 1

    async def test_start_up_bootstraps_a_key_when_no_admin_key_is_valid(self, api: Api) -> None:
        db = api.app.state.cf.db
        second = await new_admin_key(api)
        past = utcnow() - timedelta(days=1)
        async with db.write() as session:  # what an older database may hold: one revoked key, one expired
            await session.execute(update(ApiKey).where(ApiKey.prefix == ADMIN_PREFIX).values(revoked_at=past))
            await session.execute(
                update(ApiKey).where(ApiKey.prefix == apikeys.lookup_prefix(second)).values(expires_at=past)
            )
        token = await ensure_admin_key(db, None)
        assert token is not None
        api.app.state.cf.authenticator.forget_all()
        resp = await api.client.get("/users", headers=api.as_key(token))
        assert resp.status_code == 200, resp.text


class TestRevokeRacesLookup:
    async def _paused_lookup(self, auth: Authenticator, key: str) -> tuple[asyncio.Event, asyncio.Event]:
        """Make lookups of ``key`` read the database, then wait until released (so a revoke lands in between)."""
        looked_up, release = asyncio.Event(), asyncio.Event()
        real = auth._lookup

        async def paused(token: str) -> Any:
            found = await real(token)
            if token == key:
                looked_up.set()
                await release.wait()
            return found

        auth._lookup = paused  # type: ignore[method-assign]
        return looked_up, release

    async def _revoke(self, api: Api, prefix: str) -> None:
        resp = await api.client.delete(f"/keys/{prefix}", headers=api.admin)
        assert resp.status_code == 200, resp.text

    async def test_a_lookup_in_flight_during_a_revoke_does_not_cache_the_key(self, api: Api) -> None:
        key = await api.new_user("alice")
        auth = Authenticator(api.app.state.cf.db, ttl_s=60)
        api.app.state.cf.instance.authenticator = auth
        looked_up, release = await self._paused_lookup(auth, key)
        in_flight = asyncio.create_task(auth.authenticate(key))
        await looked_up.wait()  # the lookup has read the key as valid
        await self._revoke(api, apikeys.lookup_prefix(key))
        release.set()
        await in_flight  # it began before the revoke: it may still pass
        with pytest.raises(UnauthorizedError) as caught:  # not cached by the lookup that raced the revoke
            await auth.authenticate(key)
        assert caught.value.code == "revoked_api_key"

    async def test_a_caller_after_the_revoke_does_not_join_the_stale_lookup(self, api: Api) -> None:
        key = await api.new_user("alice")
        auth = Authenticator(api.app.state.cf.db, ttl_s=60)
        api.app.state.cf.instance.authenticator = auth
        looked_up, release = await self._paused_lookup(auth, key)
        in_flight = asyncio.create_task(auth.authenticate(key))
        await looked_up.wait()
        await self._revoke(api, apikeys.lookup_prefix(key))
        after = asyncio.create_task(auth.authenticate(key))
        await asyncio.sleep(0)
        release.set()
        await in_flight
        outcome = (await asyncio.gather(after, return_exceptions=True))[0]
        assert isinstance(outcome, UnauthorizedError), outcome
        assert outcome.code == "revoked_api_key"
