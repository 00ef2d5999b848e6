"""The API's contract on the core routes: authentication before the body, no lax coercion, the documented error
shape and statuses, ``?wait=`` on operations and an audit trail that names its targets."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from cloudfaster.core import operations as op_service
from tests.support.app import Api, make_settings, running_api
from tests.support.kinds import StepsKind, StepsParams

DOCS = Path(__file__).parents[2] / "docs" / "errors.md"


class TestAuthenticationFirst:
    @pytest.mark.parametrize(
        ("method", "url", "raw", "content_type"),
        [
            ("POST", "/users", b"{not json", "application/json"),
            ("POST", "/users", b'{"userid": 1}', "application/json"),
            ("PUT", "/users/alice/quota", b"[]", "application/json"),
            ("POST", "/keys", b"{", "application/json"),
            ("POST", "/vm", b"{", "application/json"),
            ("POST", "/service", b"--x\r\nbroken", "multipart/form-data; boundary=x"),
            ("POST", "/service", b'{"service_name": "x"}', "application/json"),
        ],
    )
    async def test_no_valid_key_is_401_whatever_the_body(
        self, api: Api, method: str, url: str, raw: bytes, content_type: str
    ) -> None:
        for headers in ({}, {"X-API-Key": "cf_000000000000_wrong"}):
            resp = await api.client.request(method, url, content=raw, headers=headers | {"content-type": content_type})
            assert resp.status_code == 401, (headers, resp.text)
            assert resp.json()["error"]["code"] in ("missing_api_key", "invalid_api_key")


class TestNoLaxCoercion:
    @pytest.mark.parametrize("value", [False, True, "3", 2.5, -1])
    async def test_quota_numbers_must_be_numbers(self, api: Api, value: Any) -> None:
        await api.new_user("alice")
        resp = await api.client.put("/users/alice/quota", json={"max_vms": value}, headers=api.admin)
        assert resp.status_code == 422, resp.text
        quota = (await api.client.get("/users/alice/quota", headers=api.admin)).json()
        assert quota["limits"]["max_vms"] == 10

    @pytest.mark.parametrize("expires_at", [-1, 0, 4102444800, "-1", "4102444800", True])
    async def test_expiry_must_be_an_iso_timestamp(self, api: Api, expires_at: Any) -> None:
        await api.new_user("alice")
        body = {"userid": "alice", "expires_at": expires_at}
        resp = await api.client.post("/keys", json=body, headers=api.admin)
        assert resp.status_code == 422, resp.text
        keys = (await api.client.get("/keys", params={"userid": "alice"}, headers=api.admin)).json()["items"]
        assert len(keys) == 1  # only the one new_user made

    @pytest.mark.parametrize("since", ["-1", "0", "1700000000"])
    async def test_audit_filters_take_iso_timestamps_only(self, api: Api, since: str) -> None:
        resp = await api.client.get("/audit", params={"since": since}, headers=api.admin)
        assert resp.status_code == 422, resp.text
        ok = await api.client.get("/audit", params={"since": "2026-01-01T00:00:00Z"}, headers=api.admin)
        assert ok.status_code == 200

    @pytest.mark.parametrize("admin", ["true", 1, "yes"])
    async def test_flags_must_be_booleans(self, api: Api, admin: Any) -> None:
        resp = await api.client.post("/keys", json={"admin": admin}, headers=api.admin)
        assert resp.status_code == 422, resp.text

    @pytest.mark.parametrize("name", ["Eve\nAdmin", "tab\there", "bell\x07", "nul\x00", "del\x7f", "esc\x1b[31m"])
    async def test_no_control_characters_in_names(self, api: Api, name: str) -> None:
        resp = await api.client.post("/users", json={"userid": "eve", "username": name}, headers=api.admin)
        assert resp.status_code == 422, resp.text
        assert (await api.client.get("/users/eve", headers=api.admin)).status_code == 404
        key = await api.client.post("/keys", json={"admin": True, "name": name}, headers=api.admin)
        assert key.status_code == 422, key.text


class TestOpenApiDocumentsTheErrors:
    async def test_every_error_is_the_named_error_schema(self, api: Api) -> None:
        doc = (await api.client.get("/openapi.json")).json()
        schemas = doc["components"]["schemas"]
        assert "HTTPValidationError" not in schemas
        assert set(schemas["Error"]["properties"]["error"]["$ref"].rsplit("/", 1)[1:]) == {"ErrorBody"}
        assert set(schemas["ErrorBody"]["required"]) == {"code", "message"}
        for path, operations in doc["paths"].items():
            for method, operation in operations.items():
                for status, response in operation["responses"].items():
                    if status.startswith(("4", "5")):
                        ref = response["content"]["application/json"]["schema"]["$ref"]
                        assert ref == "#/components/schemas/Error", (method, path, status)

    async def test_statuses_each_route_can_answer_are_documented(self, api: Api) -> None:
        paths = (await api.client.get("/openapi.json")).json()["paths"]

        def statuses(method: str, path: str) -> set[str]:
            return set(paths[path][method]["responses"])

        assert {"401", "403", "409", "413", "422", "429", "503"} <= statuses("post", "/users")
        assert {"401", "404", "409", "413", "415", "422", "502"} <= statuses("post", "/service")
        assert {"401", "404", "409", "422", "503"} <= statuses("post", "/vm/{vmid}/{action}")
        assert {"401", "404", "422"} <= statuses("get", "/operations/{op_id}")
        assert "401" not in statuses("get", "/healthz")
        assert "403" not in statuses("get", "/vm")  # any key may list its own VMs

    async def test_each_code_is_documented_once_in_docs_and_openapi(self, api: Api) -> None:
        from cloudfaster.api.errors import ERROR_CODES, render_markdown

        assert len({entry.code for entry in ERROR_CODES}) == len(ERROR_CODES)
        assert DOCS.read_text() == render_markdown(), "docs/errors.md is stale: regenerate it from api/errors.py"
        description = (await api.client.get("/openapi.json")).json()["info"]["description"]
        for entry in ERROR_CODES:
            assert f"`{entry.code}`" in description

    def test_every_code_the_source_raises_is_in_the_table(self) -> None:
        import re

        from cloudfaster.api.errors import ERROR_CODES

        source = Path(__file__).parents[2] / "src" / "cloudfaster"
        raised = set()
        for path in source.rglob("*.py"):
            raised |= set(re.findall(r'\bcode(?:=|: str = | = )"([a-z_]+)"', path.read_text()))
        documented = {entry.code for entry in ERROR_CODES}
        assert raised - documented == set()


async def test_wait_on_an_operation_blocks_until_it_ends(tmp_path: Path) -> None:
    kind = StepsKind(tmp_path, delay_s=0.2)
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    async with running_api(settings, kinds={kind.name: kind}) as api:
        state = api.app.state.cf
        op = op_service.new_operation(
            kind=kind.name, target_type="thing", target_id="t1", owner_userid="u",
            params=StepsParams(steps=3), idempotency_key=None, body_hash=None,
        )  # fmt: skip
        async with state.db.write() as session:
            await op_service.flush_operation(session, op)
        await state.runner.dispatch(op.id)
        started = time.monotonic()
        resp = await api.client.get(f"/operations/{op.id}", params={"wait": 30}, headers=api.admin)
        assert resp.status_code == 200
        assert resp.json()["state"] == "succeeded"
        assert time.monotonic() - started < 10
        bad = await api.client.get(f"/operations/{op.id}", params={"wait": -1}, headers=api.admin)
        assert bad.status_code == 422


class TestAudit:
    async def test_every_mutating_call_names_its_target(self, api: Api) -> None:
        key = await api.new_user("alice")
        alice = api.as_key(key)
        made = await api.client.post("/keys", json={"name": "second"}, headers=alice)
        prefix = made.json()["prefix"]
        await api.client.put("/users/alice/quota", json={"max_vms": 3}, headers=api.admin)
        await api.client.delete(f"/keys/{prefix}", headers=alice)
        events = (await api.client.get("/audit", headers=api.admin)).json()["items"]
        keys = (await api.client.get("/keys", params={"userid": "alice"}, headers=api.admin)).json()["items"]
        first = next(k["prefix"] for k in keys if k["name"] == "test")
        assert [(e["action"], e["target"]) for e in events] == [
            ("create_user", "userid=alice"),
            ("create_key", f"key={first}"),
            ("create_key", f"key={prefix}"),
            ("set_quota", "userid=alice"),
            ("revoke_key", f"key={prefix}"),
        ]
        by_target = await api.client.get("/audit", params={"target": f"key={prefix}"}, headers=api.admin)
        assert [e["action"] for e in by_target.json()["items"]] == ["create_key", "revoke_key"]

    async def test_records_keep_the_userid_after_the_user_is_deleted(self, api: Api) -> None:
        key = await api.new_user("alice")
        await api.client.post("/keys", json={"name": "mine"}, headers=api.as_key(key))
        assert (await api.client.delete("/users/alice", headers=api.admin)).status_code == 204
        events = (await api.client.get("/audit", params={"userid": "alice"}, headers=api.admin)).json()["items"]
        assert [(e["action"], e["actor_userid"]) for e in events] == [("create_key", "alice")]
        deleted = (await api.client.get("/audit", params={"target": "userid=alice"}, headers=api.admin)).json()
        assert [e["action"] for e in deleted["items"]] == ["create_user", "delete_user"]
