"""POST /users/bulk: a teacher imports a class list; each entry is created or reported with its error on its own,
and re-running the same list is harmless."""

from __future__ import annotations

from tests.support.app import Api


def roster(*names: str) -> list[dict[str, str]]:
    return [{"userid": name, "username": name.title()} for name in names]


async def test_a_class_list_is_created_with_a_key_each(api: Api) -> None:
    resp = await api.client.post(
        "/users/bulk", json={"users": roster("ana", "ben", "cleo"), "keys": True}, headers=api.admin
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (body["created"], body["existing"], body["failed"]) == (3, 0, 0)
    assert [r["userid"] for r in body["results"]] == ["ana", "ben", "cleo"]
    for result in body["results"]:
        assert result["outcome"] == "created"
        me = api.as_key(result["key"]["key"])
        assert (await api.client.get(f"/users/{result['userid']}", headers=me)).json()["username"] == result[
            "userid"
        ].title()


async def test_each_entry_on_its_own_and_a_rerun_is_harmless(api: Api) -> None:
    await api.new_user("ben", "Somebody Else")
    resp = await api.client.post("/users/bulk", json={"users": roster("ana", "ben", "cleo")}, headers=api.admin)
    assert resp.status_code == 207, resp.text
    body = resp.json()
    assert (body["created"], body["existing"], body["failed"]) == (2, 0, 1)
    ben = body["results"][1]
    assert ben["outcome"] == "failed"
    assert ben["error"]["code"] == "userid_taken"
    assert ben["key"] is None
    assert body["results"][0]["key"] is None  # keys only when asked for

    rerun = await api.client.post("/users/bulk", json={"users": roster("ana", "cleo", "dora")}, headers=api.admin)
    assert rerun.status_code == 200, rerun.text
    assert [r["outcome"] for r in rerun.json()["results"]] == ["exists", "exists", "created"]
    users = (await api.client.get("/users", headers=api.admin)).json()["items"]
    assert sorted(u["userid"] for u in users) == ["ana", "ben", "cleo", "dora"]


async def test_a_malformed_list_is_refused_whole(api: Api) -> None:
    key = await api.new_user("teacher")
    assert (
        await api.client.post("/users/bulk", json={"users": roster("ana")}, headers=api.as_key(key))
    ).status_code == 403
    for body in [
        {"users": []},
        {"users": roster("ana", "ana")},
        {"users": [{"userid": "bad id", "username": "x"}, *roster("ben")]},
        {"users": roster(*[f"s{i}" for i in range(501)])},
        {"users": roster("ana"), "extra": 1},
    ]:
        resp = await api.client.post("/users/bulk", json=body, headers=api.admin)
        assert resp.status_code == 422, (body, resp.text)
    dup = await api.client.post("/users/bulk", json={"users": roster("ana", "ana")}, headers=api.admin)
    assert "ana" in dup.text
    users = (await api.client.get("/users", headers=api.admin)).json()["items"]
    assert [u["userid"] for u in users] == ["teacher"]
