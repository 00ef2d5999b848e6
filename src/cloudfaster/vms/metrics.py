"""Usage history from PVE's RRD data: a VM's CPU, memory, network and disk I/O, and a node's (admins)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from cloudfaster.core.errors import NotFoundError
from cloudfaster.core.principal import Principal
from cloudfaster.proxmox.errors import ProxmoxError
from cloudfaster.vms.errors import app_error
from cloudfaster.vms.runtime import VmRuntime
from cloudfaster.vms.service import get_vm

Timeframe = Literal["hour", "day", "week", "month"]
# RRD data source -> the series name we show (pmxcfs status.c rrd_def_vm_pve9_0 / rrd_def_node).
VM_SERIES = {"cpu": "cpu", "mem": "memory_used", "maxmem": "memory_total", "netin": "net_in", "netout": "net_out",
             "diskread": "disk_read", "diskwrite": "disk_write"}  # fmt: skip
NODE_SERIES = {"cpu": "cpu", "loadavg": "load", "memused": "memory_used", "memtotal": "memory_total",
               "netin": "net_in", "netout": "net_out", "iowait": "iowait"}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Usage:
    """Time series over a timeframe: ``time`` (epoch seconds) and, per series, one value or None per point."""

    timeframe: str
    step_s: int
    time: list[int]
    series: dict[str, list[float | None]]


def to_usage(timeframe: str, rows: list[dict[str, Any]], names: dict[str, str]) -> Usage:
    """Columns from RRD rows: a value PVE left out (unknown, e.g. while the VM was stopped) becomes None."""
    times = [int(row["time"]) for row in rows if "time" in row]
    step = times[1] - times[0] if len(times) > 1 else 0
    series = {shown: [_number(row.get(source)) for row in rows if "time" in row] for source, shown in names.items()}
    return Usage(timeframe, step, times, series)


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


async def _rrd(rt: VmRuntime, node: str, vmid: int | None, timeframe: str) -> list[dict[str, Any]]:
    try:
        return await rt.hv().rrddata(node, vmid, timeframe)
    except ProxmoxError as exc:
        if "RRD error" in exc.message:  # no RRD file yet: pvestatd writes the first one within 10 s of a start
            return []
        raise app_error(exc, node=node) from exc


async def vm_usage(rt: VmRuntime, principal: Principal, vmid: int, timeframe: Timeframe) -> Usage:
    """A VM's usage history (404 for another user's VM; empty series before PVE has any)."""
    vm = (await get_vm(rt, principal, vmid)).vm
    if vm.node is None or vm.status in ("creating", "deleted", "failed"):
        return Usage(timeframe, 0, [], {name: [] for name in VM_SERIES.values()})
    return to_usage(timeframe, await _rrd(rt, vm.node, vmid, timeframe), VM_SERIES)


async def node_usage(rt: VmRuntime, principal: Principal, node: str, timeframe: Timeframe) -> Usage:
    """A node's usage history (admins only; 404 for a node CloudFaster does not manage)."""
    principal.require_admin()
    if node not in rt.node_names:
        raise NotFoundError(f"node {node!r} not found", code="node_not_found")
    return to_usage(timeframe, await _rrd(rt, node, None, timeframe), NODE_SERIES)
