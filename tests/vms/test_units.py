"""Unit tests: Proxmox errors as clients see them, SSH keys, placement, and the create kind on the in-memory fake."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudfaster.proxmox.errors import (
    ProxmoxAuthFailedError,
    ProxmoxLockedError,
    ProxmoxNodeDownError,
    ProxmoxRefusedError,
    ProxmoxTransientError,
)
from cloudfaster.proxmox.fake import FakeHypervisor
from cloudfaster.proxmox.types import GuestInfo, NodeLoad
from cloudfaster.settings import ProxmoxSettings
from cloudfaster.vms.errors import app_error
from cloudfaster.vms.placement import plan
from cloudfaster.vms.runtime import connect
from cloudfaster.vms.sshkeys import check_public_key
from tests.support.app import make_settings, running_api
from tests.vms.helpers import ssh_key, vm_body, wait_op

GIB = 1024**3


def test_app_errors_have_the_right_status() -> None:
    assert app_error(ProxmoxLockedError("VM is locked (backup)")).status_code == 409
    assert app_error(ProxmoxNodeDownError("x", status=595)).status_code == 503
    assert app_error(ProxmoxAuthFailedError("x", status=401)).code == "proxmox_auth_failed"
    assert app_error(ProxmoxTransientError("x")).status_code == 503
    assert app_error(ProxmoxRefusedError("x")).status_code == 409


def test_ssh_key_check() -> None:
    good = ssh_key("ecdsa-sha2-nistp256")
    assert check_public_key(f"  {good}  ") == good
    with pytest.raises(ValueError, match="unsupported key type"):
        check_public_key("ssh-dss AAAA")
    with pytest.raises(ValueError, match="truncated"):
        check_public_key("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5")


def test_placement_order() -> None:
    nodes = [
        NodeLoad("sv1", True, 32, 0.5, 128 * GIB, 100 * GIB),
        NodeLoad("sv2", True, 32, 0.1, 128 * GIB, 10 * GIB),
        NodeLoad("sv3", False),
        NodeLoad("sv4", True, 32, 0.1, 128 * GIB, int(127.9 * GIB)),
        NodeLoad("sv5", True, 32, 0.1, 128 * GIB, 10 * GIB),
    ]
    guests = [GuestInfo(9000 + i, f"sv{i}", "tpl-debian-12", "stopped", True) for i in (1, 2, 3, 4)]
    order, skipped = plan(
        nodes=nodes, guests=guests, allowed=["sv1", "sv2", "sv3", "sv4", "sv5"],
        template_name="tpl-debian-12", memory_mb=4096, preference="sv4",
    )  # fmt: skip
    assert [c.node for c in order] == ["sv4", "sv2", "sv1", "sv3"]
    assert order[0].template_vmid == 9004
    assert skipped == {"sv5": "has no template tpl-debian-12"}


async def test_create_fails_over_on_the_fake_hypervisor(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}",
        proxmox={"nodes": [{"name": "a", "host": "a.invalid"}, {"name": "b", "host": "b.invalid"}]},
    )  # fmt: skip
    fake = FakeHypervisor({"a": ["debian-12"], "b": ["debian-12"]})
    fake.offline.add("a")
    async with running_api(settings) as api:
        api.app.state.cf.instance.vms.runtime.hypervisor = fake
        key = await api.new_user("alice")
        resp = await api.client.post("/vm", json=vm_body(node="a"), headers=api.as_key(key))
        op = await wait_op(api, api.as_key(key), resp.headers["Location"])
    assert op["state"] == "succeeded", op
    assert op["result"]["node"] == "b"
    assert [kind for kind, _, _ in fake.calls] == ["qmclone", "resize", "qmstart"]
    assert fake.vms[resp.json()["vmid"]].status == "running"


def test_connect_builds_the_client_from_settings() -> None:
    settings = ProxmoxSettings(
        nodes=[{"name": "pve1", "host": "10.0.0.1", "port": 8007}], ca_file="/etc/ca.pem", timeout_s=3, api_threads=2
    )
    cluster = connect(settings)
    assert cluster.api_host("pve1") == ("10.0.0.1", 8007)
    assert cluster.options.verify == Path("/etc/ca.pem")
    assert (cluster.options.timeout_s, cluster.options.api_threads) == (3, 2)
