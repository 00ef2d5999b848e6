"""VMID allocation: reserved in our database (unique column) and checked with ``/cluster/nextid?vmid=N``.

The check with Proxmox happens outside any database transaction (``VmidProbes``): a write transaction that waited
on Proxmox would hold SQLite's one write lock, and every other writer (checkpoints, heartbeats) with it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cloudfaster.core.errors import ConflictError
from cloudfaster.db.models import ProxmoxVM
from cloudfaster.proxmox.hypervisor import Hypervisor
from cloudfaster.settings import ProxmoxSettings

T = TypeVar("T")

MAX_PROBES = 500
# How many VMIDs one probe round checks at least, and how long its answers are trusted: nextid is advisory anyway
# (notes/pve-behaviour.md §5), an id checked a few seconds ago is as good as one checked inside the transaction. A
# round covers every reservation in progress, so a burst needs few rounds however small the floor.
PROBE_WINDOW = 4
PROBE_TTL_S = 10.0
MAX_WINDOW = 128


class UnprobedVmidError(Exception):
    """The next VMID in our table has not been checked with Proxmox recently: probe from ``vmid``, then retry."""

    def __init__(self, vmid: int) -> None:
        super().__init__(f"VMID {vmid} not probed")
        self.vmid = vmid


class VmidProbes:
    """What ``nextid?vmid=N`` answered lately, per VMID; one probe round at a time, shared by every create of the
    process."""

    def __init__(self, *, window: int = PROBE_WINDOW, ttl_s: float = PROBE_TTL_S) -> None:
        self.window = window
        self.ttl_s = ttl_s
        self._answers: dict[int, tuple[bool, float]] = {}  # vmid -> (free, when)
        self._lock = asyncio.Lock()
        self.looking = 0  # reservations in progress without their row yet: a round covers them all (<= MAX_WINDOW)
        self._inserted: dict[int, float] = {}  # vmid -> when a reservation of this process inserted it
        self.next_hint: int | None = None  # the VMID after this process's last reservation: probed ahead of it

    def known(self, vmid: int) -> bool | None:
        """True (free) or False (taken) when Proxmox answered for ``vmid`` within the TTL, else None."""
        answer = self._answers.get(vmid)
        if answer is None or time.monotonic() - answer[1] > self.ttl_s:
            return None
        return answer[0]

    def unknown_ahead(self, vmid_max: int) -> int | None:
        """The first VMID without a recent answer among as many after the last reservation as are still looking
        (where they will look), or None."""
        if self.next_hint is None:
            return None
        ahead = range(self.next_hint, min(self.next_hint + max(self.looking, 1), vmid_max + 1))
        return next((vmid for vmid in ahead if self.known(vmid) is None), None)

    def inserted_here(self, vmid: int) -> bool:
        """Whether a reservation of this process inserted ``vmid`` within the TTL (its transaction may be open)."""
        when = self._inserted.get(vmid)
        return when is not None and time.monotonic() - when <= self.ttl_s

    def hold(self, vmid: int) -> None:
        """Keep ``vmid`` from the process's other reservations for the TTL: on PostgreSQL and MariaDB a second
        INSERT of an uncommitted key waits for the first transaction, then fails, and a REPEATABLE READ snapshot
        (MariaDB) does not show the row to transactions that began before its commit."""
        now = time.monotonic()
        if len(self._inserted) > MAX_WINDOW:
            self._inserted = {k: v for k, v in self._inserted.items() if now - v <= self.ttl_s}
        self._inserted[vmid] = now
        self.next_hint = vmid + 1

    async def probe_from(self, hv: Hypervisor, start: int, vmid_max: int) -> None:
        """Ask Proxmox about ``start`` and the next ids of the window, all at once (skipped when another create
        just did)."""
        async with self._lock:
            if self.known(start) is None:
                await self._probe(hv, start, vmid_max)

    async def probe_ahead(self, hv: Hypervisor, vmid_max: int) -> None:
        """Probe from the first id without a recent answer where the reservations in progress will look (after
        this process's last one), if there is such an id."""
        if self.unknown_ahead(vmid_max) is None:
            return
        async with self._lock:  # another round may have covered it while this one waited
            if (start := self.unknown_ahead(vmid_max)) is not None:
                await self._probe(hv, start, vmid_max)

    async def _probe(self, hv: Hypervisor, start: int, vmid_max: int) -> None:
        now = time.monotonic()
        self._answers = {k: v for k, v in self._answers.items() if now - v[1] <= self.ttl_s}
        size = min(max(self.window, self.looking), MAX_WINDOW)
        ids = list(range(start, min(start + size, vmid_max + 1)))
        answers = await asyncio.gather(*(hv.vmid_is_free(vmid) for vmid in ids))
        now = time.monotonic()
        self._answers.update({vmid: (free, now) for vmid, free in zip(ids, answers, strict=True)})


class Reservation:
    """One create's reservation in progress, through the process's shared ``VmidProbes``."""

    def __init__(self, probes: VmidProbes) -> None:
        self.probes = probes
        self.looking = True
        probes.looking += 1

    def inserting(self, vmid: int) -> None:
        """The reservation inserts its row under ``vmid`` (held from the others) and looks no further."""
        self.probes.hold(vmid)
        self.done()

    def done(self) -> None:
        """No longer looking for a VMID."""
        if self.looking:
            self.looking = False
            self.probes.looking -= 1


TOP_VMID = select(func.max(ProxmoxVM.vmid))


async def _next_after_ours(session: AsyncSession, floor: int) -> int:
    top = (await session.execute(TOP_VMID)).scalar_one_or_none()
    return max(floor, (top or 0) + 1)


async def reserve_vmid(
    session: AsyncSession,
    hv: Hypervisor,
    settings: ProxmoxSettings,
    make_row: Callable[[int], ProxmoxVM],
    reservation: Reservation | None = None,
) -> ProxmoxVM:
    """Insert ``make_row(vmid)`` under a VMID no other create can get and that Proxmox reports free.

    PVE cannot reserve VMIDs (notes/pve-behaviour.md §5: nextid is advisory), so the unique column is the
    reservation between CloudFaster processes, and the nextid probe skips ids taken outside CloudFaster. With a
    ``reservation`` (``with_probed_vmid``) nothing asks Proxmox here: an id without a recent answer raises
    ``UnprobedVmidError``, and the caller probes outside its transaction and tries again. Without, each candidate
    is probed in the transaction.
    """
    probes = reservation.probes if reservation is not None else None
    candidate = await _next_after_ours(session, settings.vmid_min)
    for _ in range(MAX_PROBES):
        if candidate > settings.vmid_max:
            break
        if probes is not None and probes.inserted_here(candidate):
            candidate += 1
            continue
        free = probes.known(candidate) if probes is not None else await hv.vmid_is_free(candidate)
        if free is None:
            raise UnprobedVmidError(candidate)
        if not free:
            candidate += 1
            continue
        if reservation is not None:
            reservation.inserting(candidate)  # before the flush: another reservation may run while it waits
        row = make_row(candidate)
        if session.get_bind().dialect.name == "sqlite":
            # One writer at a time, and this transaction read max(vmid) holding the write lock: no other create can
            # take a VMID above it, so no savepoint guards the insert (two more statements under the lock).
            session.add(row)
            await session.flush()
            return row
        try:
            async with session.begin_nested():
                session.add(row)
                await session.flush()
        except IntegrityError:  # a concurrent create reserved it first
            candidate = max(candidate + 1, await _next_after_ours(session, settings.vmid_min))
            continue
        return row
    raise ConflictError("no free VMID in the configured range", code="vmid_exhausted")


async def with_probed_vmid(
    probes: VmidProbes,
    hv: Hypervisor,
    settings: ProxmoxSettings,
    attempt: Callable[[Reservation], Awaitable[T]],
) -> T:
    """Run ``attempt`` (a transaction that calls ``reserve_vmid`` with the reservation it is given) until it finds
    its VMID probed, probing before and between tries, outside the transaction (``ProxmoxError`` when Proxmox
    cannot answer)."""
    reservation = Reservation(probes)
    try:
        for _ in range(MAX_PROBES // probes.window + 2):
            await probes.probe_ahead(hv, settings.vmid_max)  # spares the transaction a try that would fail
            try:
                return await attempt(reservation)
            except UnprobedVmidError as exc:
                await probes.probe_from(hv, exc.vmid, settings.vmid_max)
    finally:
        reservation.done()
    raise ConflictError("no free VMID in the configured range", code="vmid_exhausted")
