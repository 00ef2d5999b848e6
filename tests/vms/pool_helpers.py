"""Helpers for the IP pool tests: a pool body, and what a VM holds."""

from __future__ import annotations

from typing import Any

from tests.support.app import Api


def pool_body(name: str = "lan", cidr: str = "10.10.0.0/24", **overrides: Any) -> dict[str, Any]:
    """A valid PoolCreate body serving every node of the default cluster."""
    body: dict[str, Any] = {
        "name": name, "cidr": cidr, "gateway": cidr.split("/")[0].rsplit(".", 1)[0] + ".1",
        "dns_servers": ["10.10.0.53", "1.1.1.1"], "search_domain": "lab.example.org", "bridge": "vmbr1",
        "vlan": 42, "nodes": ["sv1", "sv2", "sv3", "sv4", "sv5"],
    }  # fmt: skip
    body.update(overrides)
    return body


async def make_pool(api: Api, **overrides: Any) -> dict[str, Any]:
    """Create a pool as the admin and return it."""
    resp = await api.client.post("/pools", json=pool_body(**overrides), headers=api.admin)
    assert resp.status_code == 201, resp.text
    pool: dict[str, Any] = resp.json()
    return pool


def pool_addresses(vm: dict[str, Any]) -> list[str]:
    """The addresses a VM view says come from a pool."""
    return [a["address"] for a in vm["addresses"] if a["source"] == "pool"]
