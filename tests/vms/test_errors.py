"""Bad input is a clear 4xx in the one error shape; Proxmox failures are translated, never a bare 500."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from pvesim.testing import PveSim

from tests.support.app import Api, make_settings, running_api
from tests.vms.conftest import proxmox_settings
from tests.vms.helpers import create_vm, ssh_key, vm_body, wait_op


def _without(field: str) -> dict[str, Any]:
    body = vm_body()
    body.pop(field)
    return body


BAD_BODIES = [
    ("wrong type cores", vm_body(cores="two"), "cores"),
    ("wrong type memory", vm_body(memory=[1]), "memory"),
    ("zero cores", vm_body(cores=0), "cores"),
    ("huge cores", vm_body(cores=10**6), "cores"),
    ("huge memory", vm_body(memory=10**12), "memory"),
    ("huge disk", vm_body(disk=10**9), "disk"),
    ("name with spaces", vm_body(name="my vm"), "name"),
    ("name too long", vm_body(name="a" * 64), "name"),
    ("name with underscore", vm_body(name="my_vm"), "name"),
    ("no ssh keys", vm_body(sshkeys=[]), "sshkeys"),
    ("garbage ssh key", vm_body(sshkeys=["not a key"]), "sshkeys"),
    ("unknown key type", vm_body(sshkeys=["ssh-foo AAAAB3NzaC1yc2E= x"]), "sshkeys"),
    ("bad base64", vm_body(sshkeys=["ssh-ed25519 !!!notbase64!!! x"]), "sshkeys"),
    ("type mismatch", vm_body(sshkeys=[ssh_key("ssh-ed25519").replace("ssh-ed25519", "ssh-rsa", 1)]), "sshkeys"),
    ("missing name", _without("name"), "name"),
    ("unknown field", vm_body(gpu=True), "gpu"),
    ("bad os characters", vm_body(os="debian 12; rm"), "os"),
]


@pytest.mark.parametrize(("case", "body", "field"), BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
async def test_bad_create_bodies_are_422(api: Api, sim: PveSim, case: str, body: dict[str, Any], field: str) -> None:
    key = await api.new_user("alice")
    resp = await api.client.post("/vm", json=body, headers=api.as_key(key))
    assert resp.status_code == 422, resp.text
    error = resp.json()["error"]
    assert error["code"] == "validation_failed"
    assert any(field in detail["loc"] for detail in error["details"]), error
    assert not [vm for vm in sim.cluster.vms.values() if not vm.is_template]


async def test_invalid_ssh_key_message_names_the_key(api: Api) -> None:
    key = await api.new_user("alice")
    resp = await api.client.post("/vm", json=vm_body(sshkeys=[ssh_key(), "ssh-rsa"]), headers=api.as_key(key))
    assert resp.status_code == 422
    messages = [d["msg"] for d in resp.json()["error"]["details"]]
    assert any("sshkeys[1] is not a valid OpenSSH public key" in m for m in messages), messages


async def test_unknown_os_and_node_are_422_with_the_known_ones(api: Api) -> None:
    key = await api.new_user("alice")
    resp = await api.client.post("/vm", json=vm_body(os="windows-95"), headers=api.as_key(key))
    assert resp.status_code == 422
    assert resp.json()["error"]["code"] == "unknown_os"
    assert "debian-12" in resp.json()["error"]["details"]["known"]
    resp = await api.client.post("/vm", json=vm_body(node="sv9"), headers=api.as_key(key))
    assert resp.status_code == 422
    assert resp.json()["error"]["code"] == "unknown_node"
    listing = (await api.client.get("/vm/os", headers=api.as_key(key))).json()
    assert listing["nodes"] == ["sv1", "sv2", "sv3", "sv4", "sv5"]


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("GET", "/vm/abc", None),
        ("GET", "/vm/5", None),
        ("PATCH", "/vm/1000", {"cores": "many"}),
        ("PATCH", "/vm/1000", {}),
        ("PATCH", "/vm/1000", {"disk": -1}),
        ("POST", "/vm/1000/console", {"type": "rdp"}),
        ("POST", "/vm/1000/shutdown", {"timeout": 0}),
        ("GET", "/vm?limit=0", None),
        ("GET", "/vm?status=exploded", None),
    ],
)
async def test_other_bad_requests_are_4xx_in_the_error_shape(
    api: Api, method: str, url: str, body: dict[str, Any] | None
) -> None:
    resp = await api.client.request(method, url, json=body, headers=api.admin)
    assert 400 <= resp.status_code < 500, resp.text
    assert set(resp.json()["error"]) >= {"code", "message"}


async def test_no_key_is_401(api: Api) -> None:
    resp = await api.client.post("/vm", json=vm_body())
    assert resp.status_code == 401


async def test_node_down_reads_degrade_and_actions_are_503(api: Api, sim: PveSim) -> None:
    key = await api.new_user("alice")
    headers = api.as_key(key)
    vm = await create_vm(api, headers)
    sim.faults.set_node_offline(vm["node"])
    got = await api.client.get(f"/vm/{vm['vmid']}", headers=headers)
    assert got.status_code == 200
    assert got.json()["live"] is None
    assert got.json()["live_error"]["code"] == "proxmox_node_down"
    resp = await api.client.post(f"/vm/{vm['vmid']}/stop", headers=headers)
    assert resp.status_code == 503
    assert resp.json()["error"]["code"] == "proxmox_node_down"
    assert resp.headers["Retry-After"]


async def test_a_locked_vm_is_409(api: Api, sim: PveSim) -> None:
    key = await api.new_user("alice")
    headers = api.as_key(key)
    vm = await create_vm(api, headers)
    sim.call(lambda: sim.cluster.vms[vm["vmid"]].config.update(lock="backup"))
    resp = await api.client.post(f"/vm/{vm['vmid']}/stop", headers=headers)
    assert resp.status_code == 409
    assert resp.json()["error"]["code"] == "vm_locked"
    assert "backup" in resp.json()["error"]["message"]
    got = (await api.client.get(f"/vm/{vm['vmid']}", headers=headers)).json()
    assert got["live"]["lock"] == "backup"
    assert sim.cluster.vms[vm["vmid"]].status == "running"


async def test_transient_errors_are_retried(api: Api, sim: PveSim) -> None:
    key = await api.new_user("alice")
    sim.faults.set_error_rate(0.2, "cluster not ready - no quorum?")
    resp = await api.client.post("/vm", json=vm_body(), headers=api.as_key(key))
    assert resp.status_code in (202, 503), resp.text
    if resp.status_code == 503:  # the VMID probe hit the fault on every retry: still a clean answer
        assert resp.json()["error"]["code"] == "proxmox_unavailable"
        return
    op = await wait_op(api, api.as_key(key), resp.headers["Location"], limit_s=60)
    sim.faults.clear()
    assert op["state"] == "succeeded", op
    assert [vm for vm in sim.cluster.vms.values() if not vm.is_template and vm.status == "running"]


async def test_bad_credentials_are_502_without_retry_after_and_a_clear_log_line(
    sim: PveSim, database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(tmp_path, database_url, proxmox=proxmox_settings(sim, token_secret="wrong"))
    async with running_api(settings) as api:
        key = await api.new_user("alice")
        with caplog.at_level(logging.ERROR, logger="cloudfaster.proxmox"):
            resp = await api.client.post("/vm", json=vm_body(), headers=api.as_key(key))
        # A retry cannot fix a refused token: an operator must (never 503 "try again").
        assert resp.status_code == 502
        assert resp.json()["error"]["code"] == "proxmox_auth_failed"
        assert "retry-after" not in resp.headers
        assert any("refused API token" in r.getMessage() for r in caplog.records)
        ready = (await api.client.get("/readyz")).json()
        assert ready["checks"]["proxmox"]["ok"] is False


@pytest.mark.parametrize(
    ("field", "value"),
    [("cores", "2"), ("cores", True), ("cores", 2.0), ("memory", "2048"), ("disk", False), ("memory", 2048.5)],
)
async def test_numbers_are_not_guessed_from_strings_or_booleans(api: Api, sim: PveSim, field: str, value: Any) -> None:
    key = await api.new_user("alice")
    resp = await api.client.post("/vm", json=vm_body(**{field: value}), headers=api.as_key(key))
    assert resp.status_code == 422, resp.text
    assert any(field in detail["loc"] for detail in resp.json()["error"]["details"])
    assert not [vm for vm in sim.cluster.vms.values() if not vm.is_template]


async def test_two_vms_of_one_user_cannot_share_a_name(api: Api, sim: PveSim) -> None:
    alice = api.as_key(await api.new_user("alice"))
    bob = api.as_key(await api.new_user("bob"))
    first = await create_vm(api, alice, name="web")
    again = await api.client.post("/vm", json=vm_body(name="web"), headers=alice)
    assert again.status_code == 409, again.text
    assert again.json()["error"]["code"] == "name_taken"
    assert (await api.client.post("/vm", json=vm_body(name="web"), headers=bob)).status_code == 202
    deleted = await api.client.delete(f"/vm/{first['vmid']}?wait=30", headers=alice)
    assert deleted.status_code == 200, deleted.text
    reused = await api.client.post("/vm", json=vm_body(name="web"), headers=alice)
    assert reused.status_code == 202, reused.text


async def test_two_creates_racing_for_one_name_give_one_409(api: Api) -> None:
    import asyncio

    alice = api.as_key(await api.new_user("alice"))
    answers = await asyncio.gather(
        *(api.client.post("/vm", json=vm_body(name="race"), headers=alice) for _ in range(4))
    )
    statuses = sorted(resp.status_code for resp in answers)
    assert statuses == [202, 409, 409, 409], [resp.text for resp in answers]
    assert {resp.json()["error"]["code"] for resp in answers if resp.status_code == 409} == {"name_taken"}


async def test_a_create_that_fails_after_wait_answers_its_error(api: Api, sim: PveSim) -> None:
    key = await api.new_user("alice")
    sim.faults.fail_task("qmstart", "start failed: QEMU exited with code 1")
    resp = await api.client.post("/vm?wait=60", json=vm_body(), headers=api.as_key(key))
    assert resp.status_code == 502, resp.text
    error = resp.json()["error"]
    assert error["code"] == "no_node_available"
    assert error["details"]["operation"]["state"] == "failed"
    assert resp.headers["Location"] == error["details"]["operation"]["url"]
    no_wait = await api.client.post("/vm", json=vm_body(name="web-2"), headers=api.as_key(key))
    assert no_wait.status_code == 202


async def test_an_action_that_fails_after_wait_answers_its_error(api: Api, sim: PveSim) -> None:
    key = await api.new_user("alice")
    headers = api.as_key(key)
    vm = await create_vm(api, headers)
    sim.faults.fail_task("qmstop", "stop failed: injected")
    resp = await api.client.post(f"/vm/{vm['vmid']}/stop?wait=30", headers=headers)
    assert resp.status_code == 409, resp.text  # proxmox_refused: a refusal for good (docs/errors.md)
    error = resp.json()["error"]
    assert (error["code"], error["details"]["operation"]["kind"]) == ("proxmox_refused", "vm.power")
    assert "stop failed: injected" in error["message"]
