"""The JSON state file, YAML config and the `pvesim` command."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from pvesim.config import SimConfig
from pvesim.testing import start_pvesim

from tests.pvesim.pvesim_helpers import wait


def test_state_file_survives_restart(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with start_pvesim(state_file=state) as sim:
        px = sim.proxmox()
        upid = px.nodes("sv1").qemu(9000).clone.post(newid=101, name="kept")
        wait(px, upid)
        wait(px, px.nodes("sv1").qemu(101).status.start.post())
    assert state.exists()
    with start_pvesim(state_file=state) as again:
        px = again.proxmox()
        assert px.nodes("sv1").qemu(101).config.get()["name"] == "kept"
        assert px.nodes("sv1").qemu(101).status.current.get()["status"] == "running"
        assert px.nodes("sv1").tasks(upid).status.get()["exitstatus"] == "OK"


def test_yaml_config(tmp_path: Path) -> None:
    path = tmp_path / "cluster.yaml"
    path.write_text(
        "nodes:\n  - {name: pve1, cpus: 8, memory: 17179869184}\n  - {name: pve2, online: false}\n"
        "templates:\n  - {os: debian-13, node: pve1, vmid: 8000}\n"
        "task_durations: {qmclone: 0}\nauth_failure_delay: 0\n",
        encoding="utf-8",
    )
    config = SimConfig.from_yaml(path)
    with start_pvesim(config) as sim:
        px = sim.proxmox()
        nodes = {n["node"]: n for n in px.nodes.get()}
        assert nodes["pve1"]["maxcpu"] == 8
        assert nodes["pve2"]["status"] == "offline"
        assert px.nodes("pve1").qemu(8000).config.get()["name"] == "tpl-debian-13"
    with pytest.raises(ValueError, match="unknown config keys: colour"):
        SimConfig.from_dict({"colour": "blue"})


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_cli_serves_and_prints_the_ca_path(tmp_path: Path) -> None:
    port = _free_port()
    command = [sys.executable, "-m", "pvesim.cli", "--port", str(port), "--fast", "--cert-dir", str(tmp_path)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        ca = tmp_path / "pvesim-ca.pem"
        deadline = time.monotonic() + 20
        while True:
            try:
                response = requests.get(f"https://127.0.0.1:{port}/pvesim/health", verify=str(ca), timeout=2)
                break
            except (requests.ConnectionError, OSError):
                assert time.monotonic() < deadline, "pvesim did not start"
                time.sleep(0.1)
        assert response.json()["status"] == "ok"
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=10)
    assert f"CA file {ca}" in output
    assert f"https://127.0.0.1:{port}/api2/json" in output
