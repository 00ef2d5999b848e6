"""Bad input always gets a clear 4xx in the one error shape."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sqlalchemy import event

from tests.support.app import Api, make_settings, running_api


async def test_body_over_the_json_limit_is_413(api: Api) -> None:
    big = {"userid": "big", "username": "x" * (2 * 1024 * 1024)}
    resp = await api.client.post("/users", json=big, headers=api.admin)
    assert resp.status_code == 413
    assert resp.json()["error"]["code"] == "payload_too_large"
    assert (await api.client.get("/users/big", headers=api.admin)).status_code == 404


async def test_streamed_body_over_the_limit_is_413(api: Api) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield b"x" * (600 * 1024)

    resp = await api.client.post("/users", content=chunks(), headers=api.admin | {"content-type": "application/json"})
    assert resp.status_code == 413
    assert resp.json()["error"]["code"] == "payload_too_large"


async def test_malformed_and_wrongly_typed_bodies_are_422(api: Api) -> None:
    cases = [
        b"{not json",
        b"[]",
        b'{"userid": ["a"], "username": "x"}',
        b'{"userid": "ok", "username": null}',
        b'{"userid": "ok", "username": "x", "extra": 1}',
        b"",
    ]
    for raw in cases:
        resp = await api.client.post("/users", content=raw, headers=api.admin | {"content-type": "application/json"})
        assert resp.status_code == 422, raw
        error = resp.json()["error"]
        assert error["code"] == "validation_failed"
        assert isinstance(error["details"], list)


async def test_unknown_route_and_method(api: Api) -> None:
    resp = await api.client.get("/nope", headers=api.admin)
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "not_found"
    resp = await api.client.patch("/users", headers=api.admin)
    assert resp.status_code == 405
    assert resp.json()["error"]["code"] == "method_not_allowed"


async def test_every_response_carries_a_request_id(api: Api) -> None:
    resp = await api.client.get("/healthz", headers={"X-Request-ID": "trace-123"})
    assert resp.headers["x-request-id"] == "trace-123"
    resp = await api.client.get("/healthz", headers={"X-Request-ID": "bad id\nwith newline"})
    assert resp.headers["x-request-id"] != "bad id\nwith newline"
    assert len(resp.headers["x-request-id"]) == 32


async def test_audit_trail_records_mutations(api: Api) -> None:
    key = await api.new_user("alice")
    await api.client.post("/users", json={"userid": "alice", "username": "dup"}, headers=api.admin)
    await api.client.put("/users/alice/quota", json={"max_vms": 3}, headers=api.as_key(key))
    resp = await api.client.get("/audit", params={"action": "create_user"}, headers=api.admin)
    assert resp.status_code == 200
    events = resp.json()["items"]
    assert [e["status_code"] for e in events] == [201, 409]
    assert [e["result"] for e in events] == ["ok", "error"]
    denied = await api.client.get("/audit", params={"userid": "alice"}, headers=api.admin)
    assert [(e["action"], e["result"], e["target"]) for e in denied.json()["items"]] == [
        ("set_quota", "denied", "userid=alice")
    ]
    assert (await api.client.get("/audit", headers=api.as_key(key))).status_code == 403
    naive = await api.client.get("/audit", params={"since": "2026-01-01T00:00:00"}, headers=api.admin)
    assert naive.status_code == 422


async def test_audit_keeps_every_event_of_calls_that_end_together(api: Api) -> None:
    names = [f"crowd{n}" for n in range(30)]
    writing: set[int] = set()  # connections inside a transaction that inserts audit events
    audit_commits: list[int] = []

    def insert(conn: Any, _cursor: object, statement: str, *_: object) -> None:
        if statement.startswith("INSERT INTO audit_events"):
            writing.add(id(conn))

    def commit(conn: Any) -> None:
        if id(conn) in writing:
            writing.discard(id(conn))
            audit_commits.append(1)

    engine = api.app.state.cf.db.write_engine.sync_engine
    event.listen(engine, "before_cursor_execute", insert)
    event.listen(engine, "commit", commit)
    try:
        answers = await asyncio.gather(
            *(api.client.post("/users", json={"userid": n, "username": n}, headers=api.admin) for n in names)
        )
    finally:
        event.remove(engine, "before_cursor_execute", insert)
        event.remove(engine, "commit", commit)
    assert [a.status_code for a in answers] == [201] * 30
    trail = await api.client.get("/audit", params={"action": "create_user", "limit": 100}, headers=api.admin)
    assert sorted(e["target"] for e in trail.json()["items"]) == sorted(f"userid={n}" for n in names)
    assert len(audit_commits) < 30  # the events of calls that ended together were committed together


async def test_health_ready_and_metrics(api: Api) -> None:
    assert (await api.client.get("/healthz")).json()["status"] == "ok"
    ready = await api.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"] == {"ok": True}
    await api.client.get("/users", headers=api.admin)
    metrics = (await api.client.get("/metrics")).text
    assert 'cloudfaster_http_requests_total{method="GET",route="/users",status="200"}' in metrics
    assert "cloudfaster_http_request_duration_seconds_bucket" in metrics


async def test_rate_limit_per_key_answers_429_with_retry_after(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, database_url, rate_limit={"per_key": "5/minute"})
    async with running_api(settings) as api:
        key = await api.new_user("limited")
        statuses = [(await api.client.get("/users/limited", headers=api.as_key(key))).status_code for _ in range(7)]
        assert statuses == [200] * 5 + [429] * 2
        resp = await api.client.get("/users/limited", headers=api.as_key(key))
        assert resp.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(resp.headers["Retry-After"]) <= 60
        # Another key has its own budget.
        assert (await api.client.get("/users/limited", headers=api.admin)).status_code == 200


async def test_database_errors_map_to_the_right_status(tmp_path: Path) -> None:
    from fastapi import FastAPI
    from sqlalchemy.exc import DataError, IntegrityError, OperationalError

    from cloudfaster.api.state import AppState

    raised = {
        "outage": OperationalError("SELECT 1", {}, ConnectionError("gone")),
        "race": IntegrityError("INSERT", {}, Exception("duplicate key")),
        "too-long": DataError("INSERT", {}, Exception("value too long")),
    }

    def routes(app: FastAPI, _: AppState) -> None:
        @app.get("/raise/{what}")
        async def fail(what: str) -> None:
            raise raised[what]

    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    async with running_api(settings, extensions=[routes]) as api:
        outage = await api.client.get("/raise/outage")
        assert (outage.status_code, outage.json()["error"]["code"]) == (503, "database_unavailable")
        assert outage.headers["Retry-After"] == "2"
        race = await api.client.get("/raise/race")
        assert (race.status_code, race.json()["error"]["code"]) == (409, "conflict")
        too_long = await api.client.get("/raise/too-long")
        assert (too_long.status_code, too_long.json()["error"]["code"]) == (422, "invalid_value")


def test_a_500_carries_the_request_id_it_tells_the_user_to_quote(tmp_path: Path) -> None:
    import httpx
    from fastapi import FastAPI

    from cloudfaster.api.app import create_app
    from cloudfaster.api.state import AppState
    from tests.support.app import served

    def routes(app: FastAPI, _: AppState) -> None:
        @app.get("/raise/bug")
        async def fail() -> None:
            raise RuntimeError("a bug")

    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    with served(create_app(settings, configure_logs=False, extensions=[routes])) as base:
        generated = httpx.get(f"{base}/raise/bug", timeout=10)
        quoted = httpx.get(f"{base}/raise/bug", headers={"X-Request-ID": "support-ticket-42"}, timeout=10)
    assert generated.status_code == 500
    assert generated.json()["error"]["code"] == "internal_error"
    request_id = generated.headers["X-Request-ID"]
    assert len(request_id) == 32
    assert request_id in generated.json()["error"]["message"]
    assert quoted.status_code == 500
    assert quoted.headers["X-Request-ID"] == "support-ticket-42"
    assert "a bug" not in quoted.text


async def test_failed_authentication_is_limited_per_address_without_more_lookups(
    database_url: str, tmp_path: Path
) -> None:
    import httpx

    settings = make_settings(tmp_path, database_url, rate_limit={"auth_failures_per_address": "5/minute"})
    async with running_api(settings) as api:
        good = await api.new_user("victim")
        assert (await api.client.get("/users/victim", headers=api.as_key(good))).status_code == 200
        auth = api.app.state.cf.authenticator
        real_lookup = auth._lookup
        lookups = 0

        async def counting(token: str) -> object:
            nonlocal lookups
            lookups += 1
            return await real_lookup(token)

        auth._lookup = counting
        guesses = [f"cf_{i:012d}_guessed-secret-{i}" for i in range(12)]
        statuses = [(await api.client.get("/users", headers=api.as_key(g))).status_code for g in guesses]
        assert statuses == [401] * 5 + [429] * 7
        assert lookups == 5  # nothing past the limit reached the database
        refused = await api.client.get("/users", headers=api.as_key("cf_999999999999_one-more"))
        assert refused.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        # A key already known (cached) still works from the same address; other addresses have their own budget.
        assert (await api.client.get("/users/victim", headers=api.as_key(good))).status_code == 200
        other = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=api.app, client=("127.0.0.9", 50000)), base_url="http://cf.test"
        )
        async with other:
            assert (await other.get("/users", headers=api.as_key(guesses[0]))).status_code == 401
