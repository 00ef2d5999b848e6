"""IP pools through the admin API: definition, validation, usage, and the refusals that protect addresses in use."""

from __future__ import annotations

from typing import Any

import pytest
from pvesim.testing import PveSim

from tests.support.app import Api
from tests.vms.helpers import create_vm
from tests.vms.pool_helpers import make_pool, pool_body


async def test_define_read_list_change_and_delete_a_pool(api: Api) -> None:
    created = await make_pool(api, excluded=["10.10.0.2", "10.10.0.10-10.10.0.19", "10.10.0.128/26"])
    # 256 - network - broadcast - gateway - 1 - 10 - 64
    assert created["capacity"] == 256 - 3 - 1 - 10 - 64
    assert (created["used"], created["free"]) == (0, created["capacity"])
    got = (await api.client.get("/pools/lan", headers=api.admin)).json()
    assert got["addresses"] == {}
    assert got["bridge"] == "vmbr1"
    assert got["vlan"] == 42
    listed = (await api.client.get("/pools", headers=api.admin)).json()
    assert [p["name"] for p in listed] == ["lan"]
    changed = await api.client.patch("/pools/lan", json={"excluded": [], "vlan": None}, headers=api.admin)
    assert changed.status_code == 200, changed.text
    assert changed.json()["capacity"] == 253
    assert changed.json()["vlan"] is None
    assert (await api.client.delete("/pools/lan", headers=api.admin)).status_code == 204
    assert (await api.client.get("/pools/lan", headers=api.admin)).status_code == 404


async def test_ipv6_pools_are_welcome(api: Api) -> None:
    pool = await make_pool(
        api, name="v6", cidr="2001:db8:10::/64", gateway="2001:db8:10::1", dns_servers=["2001:db8::53"]
    )
    assert pool["capacity"] == 2**64 - 2  # the subnet-router anycast address and the gateway


BAD_POOLS = [
    ("host bits set", {"cidr": "10.10.0.1/24"}, "invalid_pool"),
    ("not a cidr", {"cidr": "ten-dot-ten"}, "invalid_pool"),
    ("too small", {"cidr": "10.10.0.0/31", "gateway": None}, "invalid_pool"),
    ("gateway outside", {"gateway": "10.99.0.1"}, "invalid_pool"),
    ("gateway is the broadcast", {"gateway": "10.10.0.255"}, "invalid_pool"),
    ("gateway of another family", {"gateway": "2001:db8::1"}, "invalid_pool"),
    ("exclusion outside", {"excluded": ["10.11.0.5"]}, "invalid_pool"),
    ("exclusion backwards", {"excluded": ["10.10.0.9-10.10.0.5"]}, "invalid_pool"),
    ("unknown node", {"nodes": ["sv9"]}, "unknown_node"),
    ("no nodes", {"nodes": []}, "validation_failed"),
    ("bad dns server", {"dns_servers": ["not-an-ip"]}, "validation_failed"),
    ("bad bridge", {"bridge": "vmbr0; rm -rf"}, "validation_failed"),
    ("vlan out of range", {"vlan": 4095}, "validation_failed"),
    ("bad search domain", {"search_domain": "-bad-.example"}, "validation_failed"),
    ("bad name", {"name": "Has Spaces"}, "validation_failed"),
    ("unknown field", {"dhcp": True}, "validation_failed"),
]


@pytest.mark.parametrize(("case", "changes", "code"), BAD_POOLS, ids=[c[0] for c in BAD_POOLS])
async def test_bad_pools_are_422_and_nothing_is_stored(api: Api, case: str, changes: dict[str, Any], code: str) -> None:
    resp = await api.client.post("/pools", json=pool_body(**changes), headers=api.admin)
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"]["code"] == code
    assert (await api.client.get("/pools", headers=api.admin)).json() == []


async def test_only_admins_manage_pools(api: Api) -> None:
    key = await api.new_user("alice")
    assert (await api.client.post("/pools", json=pool_body(), headers=api.as_key(key))).status_code == 403
    assert (await api.client.get("/pools", headers=api.as_key(key))).status_code == 403


async def test_conflicts_between_pools_are_409(api: Api) -> None:
    await make_pool(api, nodes=["sv1", "sv2"])
    same_name = await api.client.post("/pools", json=pool_body(cidr="10.20.0.0/24"), headers=api.admin)
    assert (same_name.status_code, same_name.json()["error"]["code"]) == (409, "pool_exists")
    overlap = await api.client.post(
        "/pools", json=pool_body(name="other", cidr="10.20.0.0/24", nodes=["sv2", "sv3"]), headers=api.admin
    )
    assert (overlap.status_code, overlap.json()["error"]["code"]) == (409, "node_already_served")
    v6_elsewhere = pool_body(name="v6", cidr="2001:db8::/64", gateway=None, nodes=["sv2"], bridge="vmbr9")
    mismatch = await api.client.post("/pools", json=v6_elsewhere, headers=api.admin)
    assert (mismatch.status_code, mismatch.json()["error"]["code"]) == (409, "pool_network_mismatch")
    v6_elsewhere["bridge"] = "vmbr1"
    assert (await api.client.post("/pools", json=v6_elsewhere, headers=api.admin)).status_code == 201


async def test_a_pool_in_use_cannot_be_deleted_or_shrunk_under_its_addresses(api: Api, sim: PveSim) -> None:
    await make_pool(api, cidr="10.30.0.0/24", gateway="10.30.0.1")
    key = await api.new_user("alice")
    vm = await create_vm(api, api.as_key(key))
    address = next(a["address"] for a in vm["addresses"] if a["source"] == "pool")
    assert address == "10.30.0.2"  # the lowest free one
    pool = (await api.client.get("/pools/lan", headers=api.admin)).json()
    assert pool["addresses"] == {address: vm["vmid"]}
    assert pool["used"] == 1

    deleted = await api.client.delete("/pools/lan", headers=api.admin)
    assert (deleted.status_code, deleted.json()["error"]["code"]) == (409, "pool_in_use")
    for change in ({"cidr": "10.30.1.0/24", "gateway": "10.30.1.1"}, {"excluded": ["10.30.0.0/28"]},
                   {"gateway": address}):  # fmt: skip
        resp = await api.client.patch("/pools/lan", json=change, headers=api.admin)
        assert (resp.status_code, resp.json()["error"]["code"]) == (409, "pool_in_use"), change
        assert resp.json()["error"]["details"]["addresses"] == {address: vm["vmid"]}
    unchanged = (await api.client.get("/pools/lan", headers=api.admin)).json()
    assert (unchanged["cidr"], unchanged["excluded"], unchanged["gateway"]) == ("10.30.0.0/24", [], "10.30.0.1")
    grown = await api.client.patch("/pools/lan", json={"cidr": "10.30.0.0/23"}, headers=api.admin)
    assert grown.status_code == 200, grown.text
    assert grown.json()["capacity"] == 512 - 3
