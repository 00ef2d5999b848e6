"""Nodes, storages, cluster resources, version; offline nodes, random 500s, latency and the admin endpoint."""

from __future__ import annotations

import time
from typing import Any

import requests
from pvesim.testing import PveSim

from tests.pvesim.pvesim_helpers import pve_error, raw, wait


def test_version(px: Any) -> None:
    assert set(px.version.get()) == {"version", "release", "repoid"}


def test_nodes_and_node_status(px: Any) -> None:
    nodes = px.nodes.get()
    assert [n["node"] for n in nodes] == ["sv1", "sv2", "sv3", "sv4", "sv5"]
    assert all(n["status"] == "online" and n["maxmem"] > 0 and n["maxcpu"] > 0 for n in nodes)
    status = px.nodes("sv2").status.get()
    assert status["memory"]["total"] == status["memory"]["used"] + status["memory"]["free"]
    assert status["pveversion"].startswith("pve-manager/9.1.4/")
    assert status["cpuinfo"]["cpus"] == 32


def test_templates_per_node(px: Any) -> None:
    templates = [r for r in px.cluster.resources.get(type="vm") if r["template"] == 1]
    by_node: dict[str, set[str]] = {}
    for entry in templates:
        by_node.setdefault(entry["node"], set()).add(entry["name"])
    assert set(by_node) == {"sv1", "sv2", "sv3", "sv4", "sv5"}
    assert all(len(names) == 4 for names in by_node.values())
    assert "tpl-debian-12" in by_node["sv1"]
    assert "tpl-rocky-9" not in by_node["sv1"]
    assert "tpl-ubuntu-24.04" not in by_node["sv2"]
    assert {e["vmid"] for e in templates if e["node"] == "sv1"} == {9000, 9001, 9002, 9003}


def test_storage_list(px: Any) -> None:
    storages = px.nodes("sv1").storage.get(content="images", enabled=1)
    assert [s["storage"] for s in storages] == ["local-lvm", "ceph-vm"]
    lvm = storages[0]
    assert lvm["used"] == 4 * 10 * 1024**3
    assert lvm["avail"] == lvm["total"] - lvm["used"]
    assert 0 < lvm["used_fraction"] < 1
    assert {s["storage"] for s in px.nodes("sv1").storage.get()} == {"local", "local-lvm", "ceph-vm"}


def test_cluster_resources_types(px: Any) -> None:
    kinds = {r["type"] for r in px.cluster.resources.get()}
    assert kinds == {"qemu", "node", "storage", "sdn"}
    assert {r["type"] for r in px.cluster.resources.get(type="node")} == {"node"}


def test_offline_node_gives_595_through_a_live_node(sim: PveSim, px: Any) -> None:
    sim.faults.set_node_offline("sv3")
    error = pve_error(lambda: px.nodes("sv3").qemu.get(), 595, "No route to host")
    assert error.status_message == "Errors during connection establishment, proxy handshake"
    response = raw(sim, "GET", "/nodes/sv3/status")
    assert response.content == b""
    nodes = {n["node"]: n for n in px.nodes.get()}
    assert nodes["sv3"]["status"] == "offline"
    assert "mem" not in nodes["sv3"]
    vms = {r["vmid"]: r for r in px.cluster.resources.get(type="vm")}
    assert vms[9020]["status"] == "unknown"
    sim.faults.set_unreachable_reason("Connection refused")
    pve_error(lambda: px.nodes("sv3").status.get(), 595, "Connection refused")
    sim.faults.set_node_offline("sv3", False)
    assert px.nodes("sv3").status.get()["uptime"] >= 0


def test_unknown_node(px: Any) -> None:
    pve_error(
        lambda: px.nodes("nope").qemu.get(),
        500,
        "hostname lookup 'nope' failed - failed to get address info for: nope: Name or service not known",
    )


def test_random_500s(sim: PveSim, px: Any) -> None:
    sim.faults.set_error_rate(1.0, "got timeout")
    pve_error(lambda: px.version.get(), 500, "got timeout")
    sim.faults.set_error_rate(0.5)
    outcomes = set()
    for _ in range(60):
        outcomes.add(raw(sim, "GET", "/version").status_code)
    assert outcomes == {200, 500}


def test_latency(sim: PveSim, px: Any) -> None:
    sim.faults.set_latency(0.2)
    started = time.monotonic()
    px.version.get()
    assert time.monotonic() - started >= 0.2


def test_admin_endpoint(sim: PveSim, px: Any) -> None:
    url = f"{sim.base_url}/pvesim/faults"
    body = {"offline_nodes": ["sv2"], "failing_tasks": {"qmstart": "start failed: boom"}, "latency": 0}
    response = requests.post(url, json=body, verify=str(sim.ca_file), timeout=5)
    assert response.status_code == 200
    assert response.json()["offline_nodes"] == ["sv2"]
    pve_error(lambda: px.nodes("sv2").qemu.get(), 595, "No route to host")
    wait(px, px.nodes("sv1").qemu(9000).clone.post(newid=101))
    assert wait(px, px.nodes("sv1").qemu(101).status.start.post())["exitstatus"] == "start failed: boom"
    bad = requests.post(url, json={"offline_nodes": ["sv9"]}, verify=str(sim.ca_file), timeout=5)
    assert bad.status_code == 400
    cleared = requests.post(url + "/clear", verify=str(sim.ca_file), timeout=5).json()
    assert cleared["offline_nodes"] == []
    assert cleared["failing_tasks"] == {}
    durations = requests.post(
        f"{sim.base_url}/pvesim/task-durations",
        json={"durations": {"qmclone": 0.25}},
        verify=str(sim.ca_file),
        timeout=5,
    ).json()
    assert durations["durations"]["qmclone"] == 0.25
    upid = px.nodes("sv1").qemu(9000).clone.post(newid=102)
    assert px.nodes("sv1").tasks(upid).status.get()["status"] == "running"
