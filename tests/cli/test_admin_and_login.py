"""``cf login`` and contexts (a 0600 file), and the admin commands (users, keys, quotas, audit) against a real
server; the async SDK's wait with progress."""

from __future__ import annotations

import asyncio
import json
import stat
from pathlib import Path

from cloudfaster.client import AsyncClient, calls
from cloudfaster.client.models import Operation
from tests.cli.server import Server
from tests.cli.test_vms import VM_ARGS
from tests.support.app import ADMIN_KEY


def test_login_stores_the_key_at_0600_and_later_commands_use_it(server: Server, tmp_path: Path) -> None:
    config = tmp_path / "cf" / "cli.json"
    env = {"CF_CONFIG": str(config), "CF_URL": "", "CF_API_KEY": ""}
    bad = server.cf("login", "--url", server.url, "--key", "cf_nope_wrong", **env)
    assert bad.returncode == 1
    assert "unauthorized" in bad.stderr or "invalid" in bad.stderr.lower()
    assert not config.exists()

    ok = server.cf("login", "--url", server.url, "--key", server.user_key, "--name", "lab", **env)
    assert ok.returncode == 0, ok.stderr
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert json.loads(config.read_text())["contexts"]["lab"]["key"] == server.user_key
    assert "* lab" in server.cf("context", "list", **env).stdout
    listed = server.cf("vm", "list", "-o", "json", **env)
    assert listed.returncode == 0, listed.stderr
    assert server.cf("--context", "missing", "vm", "list", **env).returncode == 2


def test_admin_commands(server: Server) -> None:
    admin = {"CF_API_KEY": ADMIN_KEY}
    made = server.cf("user", "create", "cli-adm", "Admin Made", "-o", "json", **admin)
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["userid"] == "cli-adm"
    key = json.loads(server.cf("key", "create", "--userid", "cli-adm", "--name", "k", "-o", "json", **admin).stdout)
    assert key["key"].startswith("cf_")
    quota = server.cf("quota", "set", "cli-adm", "--max-vms", "3", "-o", "json", **admin)
    assert json.loads(quota.stdout)["limits"]["max_vms"] == 3
    assert json.loads(server.cf("quota", "show", "cli-adm", "-o", "json", **admin).stdout)["limits"]["max_vms"] == 3
    revoked = server.cf("key", "revoke", key["prefix"], "-o", "json", **admin)
    assert json.loads(revoked.stdout)["revoked_at"] is not None
    audit = json.loads(server.cf("audit", "--userid", "cli-adm", "-o", "json", **admin).stdout)
    assert isinstance(audit, list)
    assert server.cf("user", "delete", "cli-adm", **admin).returncode == 0
    refused = server.cf("user", "list", "-o", "json")  # as the plain user
    assert refused.returncode == 1
    assert "admin_required: this needs an admin key" in refused.stderr


def test_async_wait_reports_progress(server: Server) -> None:
    created = server.cf("vm", "create", "cli-async", *VM_ARGS, "--wait", "-o", "json")
    vmid = json.loads(created.stdout)["vmid"]

    async def stop_and_delete() -> list[str]:
        states: list[str] = []

        def progress(op: Operation) -> None:
            states.append(op.state)

        async with AsyncClient(server.url, server.user_key) as cf:
            vm = await cf.send(calls.vm_power(vmid, "stop"))
            assert vm.operation is not None
            done = await cf.wait(vm.operation.id, progress=progress)
            assert done.state == "succeeded"
            vm = await cf.send(calls.vm_delete(vmid))
            assert vm.operation is not None
            await cf.wait(vm.operation.id)
        return states

    states = asyncio.run(stop_and_delete())
    assert states[-1] == "succeeded"
