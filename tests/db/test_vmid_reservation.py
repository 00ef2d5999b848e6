"""VMID reservations on each database: what a create asks Proxmox, and creates of one process in flight together."""

from __future__ import annotations

import asyncio

import pytest

from cloudfaster.db.engine import Database
from cloudfaster.db.models import ProxmoxVM
from cloudfaster.proxmox.fake import FakeHypervisor
from cloudfaster.settings import ProxmoxSettings
from cloudfaster.vms.allocation import Reservation, VmidProbes, reserve_vmid, with_probed_vmid

SETTINGS = ProxmoxSettings(vmid_min=1000)


class CountingHypervisor(FakeHypervisor):
    """The fake cluster, counting the ``nextid?vmid=N`` probes."""

    def __init__(self) -> None:
        super().__init__({"sv1": ["debian-12"]})
        self.probed: list[int] = []

    async def vmid_is_free(self, vmid: int) -> bool:
        """Count, then answer as the fake does."""
        self.probed.append(vmid)
        return await super().vmid_is_free(vmid)


def vm_row(vmid: int) -> ProxmoxVM:
    """A VM record without an owner."""
    return ProxmoxVM(
        vmid=vmid, user_id=None, name=f"vm{vmid}", active_name=f"vm{vmid}", os="debian-12", cores=1, memory_mb=512,
        disk_gb=8, sshkeys="", node=None, status="creating",
    )  # fmt: skip


async def reserve(db: Database, hv: CountingHypervisor, probes: VmidProbes, tries: list[int]) -> int:
    """One create's reservation, committed; ``tries`` counts its transactions."""

    async def attempt(reservation: Reservation) -> int:
        tries.append(1)
        async with db.write() as session:
            return (await reserve_vmid(session, hv, SETTINGS, vm_row, reservation)).vmid

    return await with_probed_vmid(probes, hv, SETTINGS, attempt)


async def test_a_lone_create_asks_proxmox_about_a_few_vmids_and_tries_once(db: Database) -> None:
    hv, probes = CountingHypervisor(), VmidProbes(ttl_s=0.2)
    first: list[int] = []
    assert await reserve(db, hv, probes, first) == 1000
    assert len(first) == 2  # a new process knows nothing yet: the first try finds 1000 unprobed
    assert 1000 in hv.probed
    assert len(hv.probed) <= 4

    await asyncio.sleep(0.3)  # every answer has expired, as between two creates minutes apart
    hv.probed.clear()
    second: list[int] = []
    assert await reserve(db, hv, probes, second) == 1001
    assert second == [1]  # probed ahead of the transaction, not after a try that had to fail
    assert hv.probed[0] == 1001
    assert len(hv.probed) <= 4


async def test_vmids_taken_in_proxmox_are_still_skipped_when_probed_ahead(db: Database) -> None:
    hv, probes = CountingHypervisor(), VmidProbes(ttl_s=0.2)
    assert await reserve(db, hv, probes, []) == 1000
    await asyncio.sleep(0.3)
    await hv.clone("sv1", 9000, 1001, name="outside", description="made without CloudFaster")
    assert await reserve(db, hv, probes, []) == 1002
    assert 1001 in hv.probed


# SQLite has one writer: there a second write transaction waits for the first by design.
@pytest.mark.parametrize("database_url", ["mariadb", "postgres"], indirect=True)
async def test_creates_of_one_process_in_flight_together_take_distinct_vmids_without_waiting(db: Database) -> None:
    hv, probes = CountingHypervisor(), VmidProbes()
    inserted, release = asyncio.Event(), asyncio.Event()

    async def held_open(reservation: Reservation) -> int:
        async with db.write() as session:
            vmid = (await reserve_vmid(session, hv, SETTINGS, vm_row, reservation)).vmid
            inserted.set()
            await release.wait()  # not committed yet
            return vmid

    first = asyncio.create_task(with_probed_vmid(probes, hv, SETTINGS, held_open))
    await asyncio.wait_for(inserted.wait(), 10)
    try:
        # Before, the second create picked the same VMID and its INSERT waited on the first's uncommitted key.
        second = await asyncio.wait_for(reserve(db, hv, probes, []), 5)
    finally:
        release.set()
        vmid = await first
    assert (vmid, second) == (1000, 1001)
    async with db.read() as session:
        rows = (await session.execute(ProxmoxVM.__table__.select())).all()
    assert sorted(row.vmid for row in rows) == [1000, 1001]
