"""VMID allocation: reserved in our database (unique column) and checked with ``/cluster/nextid?vmid=N``."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cloudfaster.core.errors import ConflictError
from cloudfaster.db.models import ProxmoxVM
from cloudfaster.proxmox.hypervisor import Hypervisor
from cloudfaster.settings import ProxmoxSettings

MAX_PROBES = 500


async def _next_after_ours(session: AsyncSession, floor: int) -> int:
    top = (await session.execute(select(func.max(ProxmoxVM.vmid)))).scalar_one_or_none()
    return max(floor, (top or 0) + 1)


async def reserve_vmid(
    session: AsyncSession, hv: Hypervisor, settings: ProxmoxSettings, make_row: Callable[[int], ProxmoxVM]
) -> ProxmoxVM:
    """Insert ``make_row(vmid)`` under a VMID no other create can get and that Proxmox reports free.

    PVE cannot reserve VMIDs (notes/pve-behaviour.md §5: nextid is advisory), so the unique column is the
    reservation between CloudFaster processes, and the nextid probe skips ids taken outside CloudFaster.
    """
    candidate = await _next_after_ours(session, settings.vmid_min)
    for _ in range(MAX_PROBES):
        if candidate > settings.vmid_max:
            break
        if not await hv.vmid_is_free(candidate):
            candidate += 1
            continue
        row = make_row(candidate)
        try:
            async with session.begin_nested():
                session.add(row)
                await session.flush()
        except IntegrityError:  # a concurrent create reserved it first
            candidate = max(candidate + 1, await _next_after_ours(session, settings.vmid_min))
            continue
        return row
    raise ConflictError("no free VMID in the configured range", code="vmid_exhausted")
