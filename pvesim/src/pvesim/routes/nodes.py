"""Node-scoped endpoints: node status and storage list."""

from __future__ import annotations

import time
from typing import Any

from pvesim.config import GIB
from pvesim.routing import Call, RouteTable

table = RouteTable()


@table.route("GET", "/nodes/{node}/status")
def node_status(call: Call) -> dict[str, Any]:
    """Return a node's CPU, memory, root filesystem and version details."""
    sim = call.sim
    node = sim.cluster.nodes[call.node]
    used = sim.cluster.node_memory_used(call.node)
    running = sum(1 for vm in sim.cluster.vms.values() if vm.node == call.node and vm.status == "running")
    load = f"{0.05 + 0.1 * running:.2f}"
    return {
        "cpu": round(min(1.0, 0.01 + 0.02 * running), 4),
        "cpuinfo": {
            "cores": node.cpus // 2,
            "cpus": node.cpus,
            "sockets": 2,
            "model": "AMD EPYC 7313 16-Core Processor",
            "mhz": "3000.000",
            "hvm": "1",
            "user_hz": 100,
        },
        "memory": {"total": node.memory, "used": used, "free": node.memory - used, "available": node.memory - used},
        "swap": {"total": 8 * GIB, "used": 0, "free": 8 * GIB},
        "rootfs": {"total": 100 * GIB, "used": 8 * GIB, "free": 92 * GIB, "avail": 87 * GIB},
        "loadavg": [load, load, load],
        "uptime": int(time.time() - node.boot_time),
        "pveversion": f"pve-manager/{sim.config.pve_version}/{sim.config.pve_repoid}",
        "kversion": "Linux 6.14.11-4-pve #1 SMP PREEMPT_DYNAMIC PMX 6.14.11-4",
        "current-kernel": {
            "sysname": "Linux",
            "release": "6.14.11-4-pve",
            "version": "#1 SMP PREEMPT_DYNAMIC PMX 6.14.11-4",
            "machine": "x86_64",
        },
        "boot-info": {"mode": "efi", "secureboot": 0},
        "idle": 0,
        "wait": 0.0,
        "ksm": {"shared": 0},
    }


@table.route("GET", "/nodes/{node}/storage")
def node_storage(call: Call) -> list[dict[str, Any]]:
    """List the node's storages with usage, filtered by content/storage/enabled."""
    cluster = call.sim.cluster
    wanted_content = set(str(call.params.get("content", "")).split(",")) - {""}
    result = []
    for storage in cluster.storages.values():
        if not cluster.storage_on_node(storage.name, call.node):
            continue
        if "storage" in call.params and call.params["storage"] != storage.name:
            continue
        content = set(storage.content.split(","))
        if wanted_content and not wanted_content <= content:
            continue
        used = cluster.storage_used(storage.name, call.node)
        entry: dict[str, Any] = {
            "storage": storage.name,
            "type": storage.type,
            "content": storage.content,
            "active": 1,
            "enabled": 1,
            "shared": 1 if storage.shared else 0,
            "total": storage.total,
            "used": used,
            "avail": storage.total - used,
            "used_fraction": used / storage.total if storage.total else 0.0,
        }
        if call.params.get("format"):
            entry["formats"] = {"default": "raw", "supported": ["raw"] if storage.type != "dir" else ["raw", "qcow2"]}
        result.append(entry)
    return result
