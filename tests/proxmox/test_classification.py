"""Each class of Proxmox VE failure, provoked in pvesim and seen through the real client: what retrying can change
is transient, what it cannot is not (notes/pve-behaviour.md §3, pve-behaviour-2.md §2)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from proxmoxer.tools import Tasks
from pvesim.testing import PveSim, start_pvesim

from cloudfaster.proxmox.client import ApiToken, ClientOptions, NodeAddress, ProxmoxCluster
from cloudfaster.proxmox.errors import (
    ProxmoxAgentUnavailableError,
    ProxmoxAuthFailedError,
    ProxmoxLockedError,
    ProxmoxNodeDownError,
    ProxmoxNoSpiceError,
    ProxmoxNotRunningError,
    ProxmoxTransientError,
    ProxmoxUnexpectedError,
    ProxmoxVmMissingError,
)
from cloudfaster.vms.errors import app_error


@pytest.fixture
def sim() -> Iterator[PveSim]:
    """A default simulator with VM 101 cloned and running on sv1."""
    with start_pvesim() as running:
        px = running.proxmox()
        Tasks.blocking_status(px, px.nodes("sv1").qemu(9000).clone.post(newid=101), polling_interval=0.02)
        Tasks.blocking_status(px, px.nodes("sv1").qemu(101).status.start.post(), polling_interval=0.02)
        yield running


@pytest.fixture
async def client(sim: PveSim) -> AsyncIterator[ProxmoxCluster]:
    """The real client, pointed at the simulator, with quick retries."""
    nodes = [NodeAddress(name, sim.host, sim.port) for name in sim.cluster.nodes]
    options = ClientOptions(verify=sim.ca_file, retry_backoff_s=0.01)
    cluster = ProxmoxCluster(nodes, ApiToken(sim.token_id, sim.token_secret), options)
    yield cluster
    await cluster.close()


async def test_permanent_conditions_are_not_transient(sim: PveSim, client: ProxmoxCluster) -> None:
    with pytest.raises(ProxmoxNoSpiceError) as spice:
        await client.spiceproxy("sv1", 101)
    assert app_error(spice.value).status_code == 409
    with pytest.raises(ProxmoxVmMissingError):
        await client.status("sv1", 555)
    sim.call(lambda: sim.cluster.vms[101].config.pop("agent"))
    with pytest.raises(ProxmoxAgentUnavailableError) as agent:
        await client.agent_ping("sv1", 101)
    assert agent.value.reason == "not_configured"
    sim.call(lambda: sim.cluster.vms[101].config.update(agent="1"))
    sim.faults.set_agent_down(101)
    with pytest.raises(ProxmoxAgentUnavailableError) as agent:
        await client.agent_interfaces("sv1", 101)
    assert agent.value.reason == "not_running"
    sim.call(lambda: sim.cluster.vms[101].config.update(lock="backup"))
    with pytest.raises(ProxmoxLockedError) as locked:
        await client.set_config("sv1", 101, {"cores": 2})
    assert locked.value.lock == "backup"
    sim.call(lambda: sim.cluster.vms[101].config.pop("lock"))
    await client.power("sv1", 101, "stop")
    for call in (client.agent_ping("sv1", 101), client.spiceproxy("sv1", 101)):
        with pytest.raises(ProxmoxNotRunningError) as stopped:
            await call
        assert app_error(stopped.value).status_code == 409
    for error in (spice.value, agent.value, locked.value, stopped.value):
        assert not isinstance(error, ProxmoxTransientError)


async def test_what_passes_by_itself_is_transient(sim: PveSim, client: ProxmoxCluster) -> None:
    sim.faults.set_error_rate(1.0, "cluster not ready - no quorum?")
    with pytest.raises(ProxmoxTransientError) as quorum:
        await client.status("sv1", 101)
    assert not isinstance(quorum.value, ProxmoxUnexpectedError)
    assert (app_error(quorum.value).status_code, app_error(quorum.value).headers) == (503, {"Retry-After": "5"})
    sim.faults.set_error_rate(1.0, "a failure nobody knows")
    with pytest.raises(ProxmoxUnexpectedError) as unknown:
        await client.status("sv1", 101)
    assert (app_error(unknown.value).status_code, app_error(unknown.value).headers) == (502, {})
    sim.faults.clear()
    sim.faults.set_node_offline("sv1")
    with pytest.raises(ProxmoxNodeDownError) as down:
        await client.status("sv1", 101)
    assert app_error(down.value).status_code == 503


async def test_a_refused_token_is_not_temporary(sim: PveSim) -> None:
    nodes = [NodeAddress("sv1", sim.host, sim.port)]
    cluster = ProxmoxCluster(nodes, ApiToken(sim.token_id, "wrong"), ClientOptions(verify=sim.ca_file))
    try:
        with pytest.raises(ProxmoxAuthFailedError) as refused:
            await cluster.version()
    finally:
        await cluster.close()
    error = app_error(refused.value)
    assert (error.status_code, error.code, error.headers) == (502, "proxmox_auth_failed", {})
