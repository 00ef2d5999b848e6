"""A task just started is first polled about when its kind has lately ended: fewer status reads, the same answers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace

import pytest
from pvesim.config import SimConfig
from pvesim.testing import PveSim, start_pvesim

from cloudfaster.proxmox.client import ApiToken, ClientOptions, NodeAddress, ProxmoxCluster
from cloudfaster.proxmox.errors import ProxmoxTaskFailedError
from cloudfaster.proxmox.pacing import QUIET_CAP_S, QUIET_SHARE, RECENT, TaskPacing, task_kind
from cloudfaster.proxmox.types import TaskStatus
from cloudfaster.vms.kinds.tasks import wait_task

CLONE_S = 0.6
POLL_S = 0.03


def upid(node: str, kind: str, ident: str) -> str:
    """A UPID of the shape PVE writes."""
    return f"UPID:{node}:0000A1B2:0001C3D4:6700AABB:{kind}:{ident}:root@pam!cf:"


def test_a_kind_never_seen_is_polled_at_once() -> None:
    assert TaskPacing().quiet_s(upid("sv1", "qmclone", "9000")) == 0.0


def test_the_first_poll_comes_at_a_share_of_the_shortest_recent_duration() -> None:
    pacing = TaskPacing()
    for seconds in (2.4, 2.0, 3.1):
        pacing.record(upid("sv1", "qmstart", "101"), seconds)
    # another VM's start on the same node is alike
    assert pacing.quiet_s(upid("sv1", "qmstart", "102")) == pytest.approx(QUIET_SHARE * 2.0)
    assert pacing.quiet_s(upid("sv1", "qmstop", "102")) == 0.0  # another type is not


def test_a_clone_takes_after_its_source_then_the_node_then_the_cluster() -> None:
    pacing = TaskPacing()
    assert task_kind(upid("sv1", "qmclone", "9000")) == ("sv1", "qmclone", "9000")
    pacing.record(upid("sv1", "qmclone", "9000"), 2.0)
    pacing.record(upid("sv1", "qmclone", "9001"), 1.0)
    pacing.record(upid("sv2", "qmclone", "9010"), 0.5)
    assert pacing.quiet_s(upid("sv1", "qmclone", "9000")) == pytest.approx(QUIET_SHARE * 2.0)  # its own source
    assert pacing.quiet_s(upid("sv1", "qmclone", "9002")) == pytest.approx(QUIET_SHARE * 1.0)  # others on sv1
    assert pacing.quiet_s(upid("sv3", "qmclone", "9020")) == pytest.approx(QUIET_SHARE * 0.5)  # any node


def test_only_recent_durations_count_and_the_wait_is_capped() -> None:
    pacing = TaskPacing()
    kind = upid("sv1", "vzdump", "101")
    pacing.record(kind, 0.5)
    for _ in range(RECENT):
        pacing.record(kind, 600.0)
    assert pacing.quiet_s(kind) == QUIET_CAP_S  # the 0.5 s backup has left the window
    with pytest.raises(ValueError, match="not a UPID"):
        pacing.quiet_s("qmclone:9000")


@pytest.fixture
def sim() -> Iterator[PveSim]:
    """pvesim whose clones take CLONE_S."""
    fast = SimConfig.fast()
    with start_pvesim(replace(fast, task_durations={**fast.task_durations, "qmclone": CLONE_S})) as running:
        yield running


@pytest.fixture
async def cluster(sim: PveSim) -> AsyncIterator[ProxmoxCluster]:
    """The real client on the simulator, polling every POLL_S."""
    nodes = [NodeAddress(name, sim.host, sim.port) for name in sim.cluster.nodes]
    options = ClientOptions(verify=sim.ca_file, task_poll_interval_s=POLL_S)
    client = ProxmoxCluster(nodes, ApiToken(sim.token_id, sim.token_secret), options)
    yield client
    await client.close()


class CountedPolls:
    """Counts the status reads the client makes, and when the last one came."""

    def __init__(self, cluster: ProxmoxCluster, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        read = cluster.task

        async def counted(node: str, upid: str) -> TaskStatus:
            self.count += 1
            return await read(node, upid)

        monkeypatch.setattr(cluster, "task", counted)


async def clone_and_wait(cluster: ProxmoxCluster, newid: int) -> float:
    """Clone template 9000 on sv1 and wait for it as a step does; seconds from the start to the task seen done."""
    started, started_at = time.monotonic(), asyncio.get_running_loop().time()
    task = await cluster.clone("sv1", 9000, newid, name=f"vm{newid}", description="")
    await wait_task(cluster, task, started_at=started_at)
    return time.monotonic() - started


async def test_a_second_clone_is_read_a_few_times_and_seen_ending_as_soon(
    cluster: ProxmoxCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    polls = CountedPolls(cluster, monkeypatch)
    first = await clone_and_wait(cluster, 201)
    polls_first = polls.count
    assert polls_first >= CLONE_S / POLL_S / 2  # nothing known yet: polled all along

    polls.count = 0
    second = await clone_and_wait(cluster, 202)
    assert polls.count <= polls_first / 3
    assert CLONE_S <= second < CLONE_S + 0.25  # still seen ending within a few intervals
    assert second < first + 0.1


async def test_a_task_that_fails_sooner_than_usual_is_still_reported_failed(
    sim: PveSim, cluster: ProxmoxCluster
) -> None:
    await clone_and_wait(cluster, 201)
    sim.config.task_durations["qmclone"] = 0.05
    sim.faults.fail_task("qmclone", "storage 'local-lvm' is full")
    started = time.monotonic()
    with pytest.raises(ProxmoxTaskFailedError, match="is full"):
        await clone_and_wait(cluster, 202)
    # seen at the first poll, after the quiet time the 0.6 s clone taught: late by at most that much
    assert time.monotonic() - started < QUIET_SHARE * CLONE_S + 0.25
