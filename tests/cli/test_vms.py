"""``cf vm`` against a real server: create, wait, resize, delete; a failing create; ``-o json`` as the API."""

from __future__ import annotations

import json

import httpx

from tests.cli.server import SSH_KEY, Server

VM_ARGS = ("--os", "debian-12", "--sshkey", SSH_KEY, "--cores", "1", "--memory", "512", "--disk", "12")


def test_create_wait_resize_delete(server: Server) -> None:
    created = server.cf("vm", "create", "cli-web", *VM_ARGS, "--wait", "-o", "json")
    assert created.returncode == 0, created.stderr
    vm = json.loads(created.stdout)
    assert vm["status"] == "enabled"
    assert vm["name"] == "cli-web"

    shown = server.cf("vm", "show", str(vm["vmid"]), "-o", "json")
    api = server.get(f"/vm/{vm['vmid']}").json()
    mine = json.loads(shown.stdout)
    for volatile in ("live", "updated_at"):
        mine.pop(volatile), api.pop(volatile)
    assert mine == api

    resized = server.cf("vm", "resize", str(vm["vmid"]), "--disk", "16", "--cores", "2", "--wait", "-o", "json")
    assert resized.returncode == 0, resized.stderr
    assert json.loads(resized.stdout)["disk"] == 16
    assert server.get(f"/vm/{vm['vmid']}").json()["cores"] == 2

    deleted = server.cf("vm", "delete", str(vm["vmid"]), "--wait", "-o", "yaml")
    assert deleted.returncode == 0, deleted.stderr
    assert "status: deleted" in deleted.stdout
    assert server.get(f"/vm/{vm['vmid']}").json()["status"] == "deleted"


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_a_refused_create_exits_non_zero_with_the_api_message(server: Server) -> None:
    body = {"name": "bad", "os": "no-such-os", "sshkeys": [SSH_KEY], "cores": 1, "memory": 512, "disk": 12}
    raw = httpx.post(server.url + "/vm", json=body, headers={"X-API-Key": server.user_key})
    assert raw.status_code >= 400
    error = raw.json()["error"]
    result = server.cf("vm", "create", "bad", *VM_ARGS[:1], "no-such-os", *VM_ARGS[2:], "--wait")
    assert result.returncode == 1
    assert f"{error['code']}: {error['message']}" in _flat(result.stderr)
    assert "bad" not in [v["name"] for v in server.get("/vm").json()["items"]]


def test_a_failing_operation_exits_non_zero_with_its_message(server: Server) -> None:
    args = [*VM_ARGS[:-1], "8"]  # smaller than the template's disk: refused by the operation, not the request
    result = server.cf("vm", "create", "too-small", *args, "--wait")
    assert result.returncode == 1
    op_id = _flat(result.stderr).split("operation ", 1)[1].split()[0]
    error = server.get(f"/operations/{op_id}").json()["error"]
    assert f"{error['code']}: {error['message']}" in _flat(result.stderr)


def test_list_json_matches_the_api(server: Server) -> None:
    listed = server.cf("vm", "list", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    mine = [(v["vmid"], v["name"], v["status"]) for v in json.loads(listed.stdout)]
    assert mine == [(v["vmid"], v["name"], v["status"]) for v in server.get("/vm").json()["items"]]
