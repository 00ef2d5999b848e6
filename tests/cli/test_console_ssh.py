"""``cf vm console`` opens the one-time console page in the browser; ``cf vm ssh`` runs ssh as the login user."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx

from cloudfaster.client import Client, calls
from tests.cli.server import Server
from tests.cli.test_vms import VM_ARGS
from tests.support.app import ADMIN_KEY


def _recorder(path: Path, name: str) -> Path:
    """A stand-in for a program (the browser, ssh) that writes its arguments to a file."""
    script = path / name
    script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {path / (name + ".args")}\n')
    script.chmod(0o755)
    return script


def test_console_opens_the_page_and_ssh_targets_the_login_user(server: Server, tmp_path: Path) -> None:
    admin = Client(server.url, ADMIN_KEY)
    nodes = admin.send(calls.vm_os()).nodes
    admin.send(calls.pool_create({"name": "cli-pool", "cidr": "10.77.0.0/24", "gateway": "10.77.0.1", "nodes": nodes}))
    created = server.cf("vm", "create", "cli-reach", *VM_ARGS, "--wait", "-o", "json")
    assert created.returncode == 0, created.stderr
    vmid = json.loads(created.stdout)["vmid"]
    try:
        browser = _recorder(tmp_path, "browser")
        opened = server.cf("vm", "console", str(vmid), BROWSER=f"{browser} %s")
        assert opened.returncode == 0, opened.stderr
        url = (tmp_path / "browser.args").read_text().strip()
        assert url.startswith(f"{server.url}/console/{vmid}/vnc#token=")
        assert httpx.get(url.split("#")[0], timeout=10).status_code == 200

        vm = server.get(f"/vm/{vmid}").json()
        _recorder(tmp_path, "ssh")
        path = f"{tmp_path}:{os.environ['PATH']}"
        ran = server.cf("vm", "ssh", str(vmid), "--", "-o", "BatchMode=yes", PATH=path)
        assert ran.returncode == 0, ran.stderr
        assert vm["addresses"][0]["address"].startswith("10.77.0.")
        target = f"{vm['login_user']}@{vm['addresses'][0]['address']}"
        assert (tmp_path / "ssh.args").read_text().split() == [target, "-o", "BatchMode=yes"]
    finally:
        server.cf("vm", "delete", str(vmid), "--wait")
        admin.send(calls.pool_delete("cli-pool"))
        admin.close()


def test_ssh_without_an_address_says_so(server: Server) -> None:
    created = server.cf("vm", "create", "cli-noaddr", *VM_ARGS, "--wait", "-o", "json")
    vmid = json.loads(created.stdout)["vmid"]
    try:
        ran = server.cf("vm", "ssh", str(vmid))
        assert ran.returncode == 1
        assert f"VM {vmid} has no known address yet" in ran.stderr
    finally:
        server.cf("vm", "delete", str(vmid), "--wait")
