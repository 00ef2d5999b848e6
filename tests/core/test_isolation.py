"""A user key cannot read, change or delete anything of another user: every route that takes an id."""

from __future__ import annotations

from tests.support.app import Api


async def test_other_users_things_are_404(api: Api) -> None:
    alice = await api.new_user("alice")
    bob = await api.new_user("bob")
    bob_prefix = bob.split("_")[1]
    bob_key_resp = await api.client.get(f"/keys/{bob_prefix}", headers=api.as_key(bob))
    assert bob_key_resp.status_code == 200
    mine = api.as_key(alice)

    attempts = [
        ("GET", "/users/bob", None),
        ("GET", "/users/bob/quota", None),
        ("PUT", "/users/bob/quota", {"max_vms": 100}),
        ("DELETE", "/users/bob", None),
        ("GET", f"/keys/{bob_prefix}", None),
        ("DELETE", f"/keys/{bob_prefix}", None),
    ]
    for method, path, body in attempts:
        resp = await api.client.request(method, path, json=body, headers=mine)
        assert resp.status_code in (403, 404), (method, path, resp.status_code)
        if method == "GET" or path.startswith("/keys"):
            assert resp.status_code == 404, (method, path)
            assert resp.json()["error"]["code"] == "not_found"

    # Nothing changed: bob's key still works and his quota is untouched.
    assert (await api.client.get("/users/bob", headers=api.as_key(bob))).status_code == 200
    quota = await api.client.get("/users/bob/quota", headers=api.admin)
    assert quota.json()["limits"]["max_vms"] == 10
    listed = await api.client.get("/keys", headers=mine)
    assert {k["userid"] for k in listed.json()["items"]} == {"alice"}


async def test_other_users_operation_is_404(api: Api) -> None:
    from cloudfaster.core.operations import new_operation
    from tests.support.kinds import StepsParams

    alice = await api.new_user("alice")
    bob = await api.new_user("bob")
    op = new_operation(
        kind="test.steps", target_type="thing", target_id="1", owner_userid="bob", params=StepsParams(steps=0),
        idempotency_key=None, body_hash=None,
    )  # fmt: skip
    op.state = "succeeded"
    op.active_target = None
    async with api.app.state.cf.db.write() as session:
        session.add(op)
    assert (await api.client.get(f"/operations/{op.id}", headers=api.as_key(bob))).status_code == 200
    resp = await api.client.get(f"/operations/{op.id}", headers=api.as_key(alice))
    assert resp.status_code == 404
    assert (await api.client.get(f"/operations/{op.id}", headers=api.admin)).status_code == 200
    listed = await api.client.get("/operations", headers=api.as_key(alice))
    assert listed.json()["items"] == []
