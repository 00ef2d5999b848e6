"""Placement: which nodes to try, in which order, for a new VM."""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

from cloudfaster.proxmox.types import GuestInfo, NodeLoad

MIB = 1024**2


@dataclass(frozen=True, slots=True)
class Candidate:
    """A node that has the OS's template, and that template's VMID there."""

    node: str
    template_vmid: int


def plan(
    *,
    nodes: list[NodeLoad],
    guests: list[GuestInfo],
    allowed: list[str],
    template_name: str,
    memory_mb: int,
    preference: str | None,
    spread_key: int = 0,
    reserved: dict[str, int] | None = None,
) -> tuple[list[Candidate], dict[str, str]]:
    """Candidates in the order to try them, and the nodes left out with the reason.

    ``reserved``: memory (bytes) of the creates placed on each node and not finished yet, which Proxmox does not
    count as used until they run. Order: the preferred node first, then online nodes with room for the VM beside
    those, by weight (least CPU load next, ``spread_key`` breaking ties), then online nodes short of memory, then
    offline ones (they fail fast and are recorded as such). The weight, (reserved + this VM) / free memory, is what
    spreads a burst: each node takes a share of it in proportion to its free memory (equal nodes take turns).
    """
    reserved = reserved or {}
    templates = {g.node: g.vmid for g in guests if g.template and g.name == template_name}
    loads = {n.name: n for n in nodes}
    skipped: dict[str, str] = {}
    usable: list[NodeLoad] = []
    for name in allowed:
        if name not in loads:
            skipped[name] = "not a member of the cluster"
        elif name not in templates:
            skipped[name] = f"has no template {template_name}"
        else:
            usable.append(loads[name])

    def rank(load: NodeLoad) -> tuple[int, int, int, float, float, int]:
        held = reserved.get(load.name, 0)
        free = load.memory_free
        return (
            0 if load.name == preference else 1,
            0 if load.online else 1,
            0 if free - held >= memory_mb * MIB else 1,
            round((held + memory_mb * MIB) / free, 6) if free else math.inf,
            round(load.cpu_usage, 1),
            zlib.crc32(f"{spread_key}:{load.name}".encode()),
        )

    ordered = sorted(usable, key=rank)
    return [Candidate(load.name, templates[load.name]) for load in ordered], skipped
