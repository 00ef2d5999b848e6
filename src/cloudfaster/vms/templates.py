"""The OS templates: their boot disk (the smallest disk a VM of that OS can have) and the catalog ``GET /vm/os``
shows, read from the templates' config and cached."""

from __future__ import annotations

import asyncio
import math
import re
from dataclasses import dataclass
from typing import Any

from cloudfaster.core.runner.kinds import OperationFailedError
from cloudfaster.proxmox.errors import ProxmoxError
from cloudfaster.vms.errors import app_error
from cloudfaster.vms.runtime import VmRuntime

DISK_KEY = re.compile(r"^(scsi|virtio|sata|ide)\d+$")
GIB = 1024**3
SIZE_UNITS = {"K": 1024, "M": 1024**2, "G": GIB, "T": 1024 * GIB}


def boot_disk(config: dict[str, Any]) -> tuple[str, int]:
    """The boot disk's key and size in bytes (first of ``boot: order=...``, else the first disk)."""
    disks = {
        key: str(value)
        for key, value in config.items()
        if DISK_KEY.match(key) and "media=cdrom" not in str(value) and not str(value).startswith("none")
    }
    order = [k for k in str(config.get("boot", "")).removeprefix("order=").split(";") if k in disks]
    key = order[0] if order else sorted(disks)[0] if disks else None
    if key is None:
        raise OperationFailedError("the template has no disk to grow", code="template_without_disk")
    match = re.search(r"size=(\d+(?:\.\d+)?)([KMGT]?)", disks[key])
    size = int(float(match.group(1)) * SIZE_UNITS.get(match.group(2), 1)) if match else 0
    return key, size


@dataclass(frozen=True, slots=True)
class OsTemplate:
    """One OS a VM can be created with: its template, the nodes that have it, the login user and the template's
    disk size in GB (None when no node has the template)."""

    os: str
    template: str
    nodes: list[str]
    login_user: str
    min_disk_gb: int | None


@dataclass(frozen=True, slots=True)
class Catalog:
    """Every OS; ``error`` says why the templates could not be read (then nodes and sizes are unknown)."""

    systems: list[OsTemplate]
    error: dict[str, str] | None = None


async def _disk_gb(rt: VmRuntime, node: str, vmid: int) -> int | None:
    try:
        _, size = boot_disk(await rt.hv().config(node, vmid))
    except OperationFailedError:
        return None
    return math.ceil(size / GIB) if size else None


async def _load(rt: VmRuntime) -> Catalog:
    guests = [g for g in await rt.hv().guests() if g.template and g.node in rt.node_names]
    names = rt.proxmox.templates
    found = {os: [g for g in guests if g.name == name] for os, name in names.items()}
    sizes = await asyncio.gather(*(_disk_gb(rt, hits[0].node, hits[0].vmid) for hits in found.values() if hits))
    by_os = dict(zip([os for os, hits in found.items() if hits], sizes, strict=True))
    return Catalog([
        OsTemplate(os, names[os], sorted(g.node for g in found[os]), rt.proxmox.ci_user, by_os.get(os))
        for os in sorted(names)
    ])  # fmt: skip


async def catalog(rt: VmRuntime) -> Catalog:
    """The OS catalog, cached for 5 minutes; without Proxmox VE, the names with why the rest is missing."""
    try:
        cached: Catalog = await rt.templates.get("catalog", lambda: _load(rt))
    except ProxmoxError as exc:
        error = app_error(exc)
        names = sorted(rt.proxmox.templates.items())
        unknown = [OsTemplate(os, name, [], rt.proxmox.ci_user, None) for os, name in names]
        return Catalog(unknown, {"code": error.code, "message": error.message})
    return cached
