"""Helpers for VM tests: valid SSH keys, request bodies and waiting for operations."""

from __future__ import annotations

import base64
import os
import struct
from typing import Any

from cloudfaster.core.polling import poll_until
from tests.support.app import Api


def ssh_key(key_type: str = "ssh-ed25519", comment: str = "test@example") -> str:
    """A well-formed OpenSSH public key line (random key material)."""
    blob = struct.pack(">I", len(key_type)) + key_type.encode() + struct.pack(">I", 32) + os.urandom(32)
    return f"{key_type} {base64.b64encode(blob).decode()} {comment}"


def vm_body(name: str = "web-1", **overrides: Any) -> dict[str, Any]:
    """A valid VMCreate body."""
    body: dict[str, Any] = {
        "name": name, "os": "debian-12", "cores": 2, "memory": 2048, "disk": 20, "sshkeys": [ssh_key()],
    }  # fmt: skip
    body.update(overrides)
    return body


async def wait_op(
    api: Api, headers: dict[str, str], op_url: str, limit_s: float = 30, poll_s: float = 0.05
) -> dict[str, Any]:
    """Poll an operation until it ends; returns its JSON (fails the test if it has not ended in ``limit_s``)."""

    async def load() -> dict[str, Any]:
        resp = await api.client.get(op_url, headers=headers)
        assert resp.status_code == 200, resp.text
        op: dict[str, Any] = resp.json()
        return op

    polled = await poll_until(
        load, lambda op: op["state"] in ("succeeded", "failed", "cancelled"), timeout_s=limit_s, interval_s=poll_s
    )
    assert polled.done, f"operation still {polled.value['state']}: {polled.value['steps']}"
    return polled.value


async def create_vm(api: Api, headers: dict[str, str], **overrides: Any) -> dict[str, Any]:
    """Create a VM, wait for its operation, return the VM as GET /vm/{vmid} shows it."""
    resp = await api.client.post("/vm", json=vm_body(**overrides), headers=headers)
    assert resp.status_code == 202, resp.text
    await wait_op(api, headers, resp.headers["Location"])
    got = await api.client.get(f"/vm/{resp.json()['vmid']}", headers=headers)
    assert got.status_code == 200, got.text
    vm: dict[str, Any] = got.json()
    return vm
