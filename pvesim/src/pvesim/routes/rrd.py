"""RRD usage history: `GET /nodes/{node}/qemu/{vmid}/rrddata` and `GET /nodes/{node}/rrddata` (pve-cluster RRD.pm
`create_rrd_data`, pmxcfs status.c `rrd_def_vm_pve9_0`/`rrd_def_node`, pvestatd.pm; notes pve-behaviour-2.md §5).

The series are synthetic but shaped as PVE's: the same steps and point counts, fractions for CPU, bytes/s for the
DERIVE rates, unknown values left out rather than null, a stopped VM with only its four gauge fields.
"""

from __future__ import annotations

import math
import time
from typing import Any

from pvesim.cluster import MIB
from pvesim.config import GIB
from pvesim.errors import PveError
from pvesim.routes.common import load_vm
from pvesim.routing import Call, RouteTable

table = RouteTable()

# timeframe -> (step in seconds, rows) of the PVE 9 RRD layout.
LAYOUT = {
    "hour": (60, 60),
    "day": (60, 1440),
    "week": (1800, 336),
    "month": (1800, 1440),
    "year": (21600, 1440),
    "decade": (604800, 570),
}
# pvestatd pushes every 10 s; pmxcfs creates the file with the first update.
FIRST_UPDATE_S = 10


def _rows(timeframe: str) -> list[int]:
    step, count = LAYOUT[timeframe]
    ctime = step * int(time.time() / step)
    return [ctime - (count - 1 - i) * step for i in range(count)]


def _wave(seed: int, t: int, period: float, low: float, high: float) -> float:
    phase = (seed % 97) / 97 * 2 * math.pi
    return low + (high - low) * (0.5 + 0.5 * math.sin(2 * math.pi * t / period + phase))


@table.route("GET", "/nodes/{node}/qemu/{vmid}/rrddata")
def vm_rrddata(call: Call) -> list[dict[str, Any]]:
    """A VM's usage: the full field set while it runs, only maxcpu/maxmem/maxdisk/disk while stopped."""
    vm = load_vm(call)
    timeframe = str(call.params["timeframe"])  # the schema's enum has no `decade` for VMs
    born = vm.created_at + FIRST_UPDATE_S
    if time.time() < born:
        # The text after the prefix is rrdtool's and was not verified (notes §5).
        raise PveError(
            500, f"RRD error: opening '/var/lib/rrdcached/db/pve-vm-9.0/{vm.vmid}': No such file or directory"
        )
    maxmem = vm.memory_mib * MIB
    running = vm.status == "running"
    points: list[dict[str, Any]] = []
    for t in _rows(timeframe):
        if t < born:
            points.append({"time": t})
            continue
        point: dict[str, Any] = {"time": t, "maxcpu": float(vm.cpus), "maxmem": float(maxmem),
                                 "maxdisk": float(vm.maxdisk), "disk": 0.0}  # fmt: skip
        if running:
            seed = vm.vmid
            point.update(
                cpu=_wave(seed, t, 3600, 0.02, 0.35),
                mem=_wave(seed + 1, t, 7200, 0.3, 0.7) * maxmem,
                memhost=_wave(seed + 1, t, 7200, 0.3, 0.7) * maxmem,
                netin=_wave(seed + 2, t, 900, 2_000, 250_000),
                netout=_wave(seed + 3, t, 1200, 1_000, 120_000),
                diskread=_wave(seed + 4, t, 1800, 0, 4 * MIB),
                diskwrite=_wave(seed + 5, t, 2400, 0, 2 * MIB),
                pressurecpusome=0.0, pressurecpufull=0.0, pressureiosome=0.0, pressureiofull=0.0,
                pressurememorysome=0.0, pressurememoryfull=0.0,
            )  # fmt: skip
        points.append(point)
    if points and set(points[-1]) == {"time"}:
        points.pop()  # RRD.pm drops a trailing row that has only its time
    return points


@table.route("GET", "/nodes/{node}/rrddata")
def node_rrddata(call: Call) -> list[dict[str, Any]]:
    """A node's usage over the timeframe (served from the local rrdcached copy, also for an offline node)."""
    cluster = call.sim.cluster
    node = cluster.nodes[call.node]
    timeframe = str(call.params["timeframe"])
    seed = sum(map(ord, node.name))
    running = [vm for vm in cluster.vms.values() if vm.node == node.name and vm.status == "running"]
    used = float(cluster.node_memory_used(node.name))
    points: list[dict[str, Any]] = []
    for t in _rows(timeframe):
        cpu = min(1.0, 0.01 + 0.02 * len(running) + _wave(seed, t, 3600, 0, 0.05))
        points.append({
            "time": t, "loadavg": cpu * node.cpus, "maxcpu": float(node.cpus), "cpu": cpu,
            "iowait": _wave(seed + 1, t, 1800, 0, 0.02), "memtotal": float(node.memory), "memused": used,
            "memavailable": float(node.memory) - used, "swaptotal": float(8 * GIB), "swapused": 0.0,
            "roottotal": float(100 * GIB), "rootused": float(8 * GIB), "arcsize": 0.0,
            "netin": _wave(seed + 2, t, 900, 10_000, 5_000_000), "netout": _wave(seed + 3, t, 900, 10_000, 3_000_000),
            "pressurecpusome": 0.0, "pressureiosome": 0.0, "pressureiofull": 0.0, "pressurememorysome": 0.0,
            "pressurememoryfull": 0.0,
        })  # fmt: skip
    return points
