"""The embedded sandbox when no node is configured, and the reconcile pass."""

from __future__ import annotations

from pathlib import Path

import pytest
from pvesim.testing import PveSim
from pydantic import ValidationError

from cloudfaster.settings import ProxmoxSettings
from tests.support.app import Api, make_settings, running_api
from tests.vms.helpers import create_vm, vm_body


async def test_without_nodes_a_sandbox_starts_and_says_so(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(tmp_path, database_url, proxmox={"task_poll_interval_s": 0.05})
    async with running_api(settings) as api:
        assert any("SANDBOX MODE" in r.getMessage() for r in caplog.records)
        ready = (await api.client.get("/readyz")).json()["checks"]["proxmox"]
        assert ready["ok"] is True
        assert ready["sandbox"] is True
        key = await api.new_user("alice")
        vm = await create_vm(api, api.as_key(key))
        assert vm["status"] == "enabled"
        assert vm["live"]["power"] == "running"


async def test_with_nodes_there_is_never_a_sandbox(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    ready = (await api.client.get("/readyz")).json()["checks"]["proxmox"]
    assert ready == {"sandbox": False, "nodes": ["sv1", "sv2", "sv3", "sv4", "sv5"], "ok": True, "version": "9.1.4"}
    assert not any("SANDBOX" in r.getMessage() for r in caplog.records)


def test_sandbox_cannot_be_forced_next_to_real_nodes() -> None:
    with pytest.raises(ValidationError, match="sandbox=true cannot be combined"):
        ProxmoxSettings(sandbox=True, nodes=[{"name": "pve1", "host": "pve1.example"}])
    assert ProxmoxSettings(sandbox=False).use_sandbox is False
    assert ProxmoxSettings().use_sandbox is True
    assert ProxmoxSettings(nodes=[{"name": "pve1", "host": "pve1.example"}]).use_sandbox is False


async def test_reconcile_marks_vanished_moved_and_changed_vms(api: Api, sim: PveSim) -> None:
    key = api.as_key(await api.new_user("alice"))
    gone, moved, changed, fine = [(await create_vm(api, key, name=f"vm{i}"))["vmid"] for i in range(4)]

    def tamper() -> None:
        del sim.cluster.vms[gone]
        vm = sim.cluster.vms[moved]
        vm.node = "sv5" if vm.node != "sv5" else "sv4"
        sim.cluster.vms[changed].config["cores"] = 8

    sim.call(tamper)
    resp = await api.client.post("/vm/reconcile", headers=api.admin)
    assert resp.status_code == 200, resp.text
    result = resp.json()
    assert result["missing"] == [gone]
    assert result["moved"] == [moved]
    assert result["drifted"] == [changed]
    assert (await api.client.post("/vm/reconcile", headers=key)).status_code == 403

    got = {vmid: (await api.client.get(f"/vm/{vmid}", headers=key)).json() for vmid in (gone, moved, changed, fine)}
    assert got[gone]["status"] == "missing"
    assert got[gone]["status_detail"]["reconcile"] == "not found in Proxmox VE"
    assert got[moved]["node"] == sim.cluster.vms[moved].node
    assert got[changed]["status_detail"]["drift"] == {"cores": {"ours": 2, "proxmox": 8}}
    assert got[fine]["status"] == "enabled"
    assert "drift" not in (got[fine]["status_detail"] or {})


async def test_without_nodes_and_without_sandbox_vm_calls_are_503(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}", proxmox={"sandbox": False})
    async with running_api(settings) as api:
        ready = (await api.client.get("/readyz")).json()
        assert ready["status"] == "ready"
        assert ready["checks"]["proxmox"]["ok"] is False
        assert ready["checks"]["proxmox"]["sandbox"] is False
        key = await api.new_user("alice")
        resp = await api.client.post("/vm", json=vm_body(), headers=api.as_key(key))
        assert resp.status_code == 503
        assert resp.json()["error"]["code"] == "proxmox_unavailable"
        assert (await api.client.get("/vm", headers=api.as_key(key))).status_code == 200
