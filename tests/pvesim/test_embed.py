"""The embedding contract (pvesim.embed): a simulator in a background thread, reachable with what it yields."""

from __future__ import annotations

import dataclasses
import socket
import time

import pytest
from proxmoxer import ProxmoxAPI
from proxmoxer.tools import Tasks
from pvesim.embed import EmbeddedPveSim, start_embedded


def _client(sim: EmbeddedPveSim) -> ProxmoxAPI:
    user, token_name = sim.token_id.split("!", 1)
    return ProxmoxAPI(
        f"{sim.host}:{sim.port}",
        user=user,
        token_name=token_name,
        token_value=sim.token_secret,
        verify_ssl=str(sim.ca_file),
        timeout=10,
    )


def test_yields_address_credentials_and_nodes() -> None:
    with start_embedded() as sim:
        assert sim.host == "127.0.0.1"
        assert sim.port > 0
        assert sim.base_url == f"https://127.0.0.1:{sim.port}"
        assert sim.token_id == "root@pam!cloudfaster"
        assert sim.ca_file.read_text().startswith("-----BEGIN CERTIFICATE-----")
        assert sim.nodes == ("sv1", "sv2", "sv3", "sv4", "sv5")
        assert _client(sim).version.get()["release"] == "9.1"
        with pytest.raises(dataclasses.FrozenInstanceError):
            sim.port = 1  # type: ignore[misc]


def test_task_durations_apply_and_the_rest_keep_their_defaults() -> None:
    with start_embedded({"qmclone": 0.3, "qmstart": 0.0}) as sim:
        px = _client(sim)
        began = time.monotonic()
        upid = px.nodes("sv1").qemu(9000).clone.post(newid=150, name="web1")
        assert Tasks.blocking_status(px, upid, timeout=5, polling_interval=0.02)["exitstatus"] == "OK"
        assert time.monotonic() - began >= 0.3
        upid = px.nodes("sv1").qemu(150).status.start.post()
        # A zero-length task has ended by the time the request returns.
        assert px.nodes("sv1").tasks(upid).status.get()["status"] == "stopped"


def test_negative_durations_are_refused() -> None:
    with pytest.raises(ValueError, match="must not be negative"), start_embedded({"qmclone": -1.0}):
        pass


def test_stops_and_frees_the_port_and_the_tls_files() -> None:
    with start_embedded() as sim:
        port, ca_file = sim.port, sim.ca_file
    assert not ca_file.exists()
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0
