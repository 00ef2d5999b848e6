"""Cluster-wide endpoints: /version, /nodes, /cluster/resources, /cluster/nextid."""

from __future__ import annotations

import time
from typing import Any

from pvesim.config import GIB
from pvesim.errors import PveError
from pvesim.routing import Call, RouteTable
from pvesim.simulator import Simulator
from pvesim.tls import fingerprint

table = RouteTable()


@table.route("GET", "/version")
def version(call: Call) -> dict[str, Any]:
    """Return the PVE version."""
    config = call.sim.config
    return {"version": config.pve_version, "release": config.pve_release, "repoid": config.pve_repoid}


def node_usage(sim: Simulator, name: str) -> dict[str, Any]:
    """Return cpu/mem usage fields of an online node."""
    node = sim.cluster.nodes[name]
    running = [vm for vm in sim.cluster.vms.values() if vm.node == name and vm.status == "running"]
    return {
        "cpu": round(min(1.0, 0.01 + 0.02 * len(running)), 4),
        "maxcpu": node.cpus,
        "mem": sim.cluster.node_memory_used(name),
        "maxmem": node.memory,
        "uptime": int(time.time() - node.boot_time),
    }


@table.route("GET", "/nodes")
def list_nodes(call: Call) -> list[dict[str, Any]]:
    """List nodes; offline nodes carry no usage fields."""
    sim = call.sim
    fp = fingerprint(sim.tls.cert_file)
    result = []
    for name, node in sim.cluster.nodes.items():
        entry: dict[str, Any] = {
            "node": name,
            "status": "online" if node.online else "offline",
            "id": f"node/{name}",
            "type": "node",
            "level": "",
            "ssl_fingerprint": fp,
        }
        if node.online:
            entry.update(node_usage(sim, name))
        result.append(entry)
    return result


@table.route("GET", "/cluster/resources")
def resources(call: Call) -> list[dict[str, Any]]:
    """List nodes, VMs, storages and SDN zones of the whole cluster."""
    sim = call.sim
    kind = call.params.get("type")
    cluster = sim.cluster
    result: list[dict[str, Any]] = []
    if kind in (None, "vm"):
        for vm in sorted(cluster.vms.values(), key=lambda v: v.vmid):
            online = cluster.nodes[vm.node].online
            entry: dict[str, Any] = {
                "id": f"qemu/{vm.vmid}",
                "type": "qemu",
                "vmid": vm.vmid,
                "node": vm.node,
                "name": vm.name,
                "status": vm.status if online else "unknown",
                "template": 1 if vm.is_template else 0,
            }
            if online:
                running = vm.status == "running"
                entry.update(
                    {
                        "maxcpu": vm.cpus,
                        "maxmem": vm.memory_mib * 1024 * 1024,
                        "maxdisk": vm.maxdisk,
                        "cpu": 0.02 if running else 0,
                        "mem": vm.memory_mib * 1024 * 512 if running else 0,
                        "disk": 0,
                        "uptime": vm.uptime(),
                        "netin": 0,
                        "netout": 0,
                        "diskread": 0,
                        "diskwrite": 0,
                    }
                )
            if vm.lock:
                entry["lock"] = vm.lock
            if "tags" in vm.config:
                entry["tags"] = vm.config["tags"]
            result.append(entry)
    if kind in (None, "node"):
        for name, node in cluster.nodes.items():
            entry = {"id": f"node/{name}", "type": "node", "node": name, "level": ""}
            entry["status"] = "online" if node.online else "offline"
            if node.online:
                entry.update(node_usage(sim, name))
                entry.update({"disk": 8 * GIB, "maxdisk": 100 * GIB, "cgroup-mode": 2})
            result.append(entry)
    if kind in (None, "storage"):
        for name, node in cluster.nodes.items():
            for storage in cluster.storages.values():
                if not cluster.storage_on_node(storage.name, name):
                    continue
                entry = {
                    "id": f"storage/{name}/{storage.name}",
                    "type": "storage",
                    "storage": storage.name,
                    "node": name,
                    "status": "available" if node.online else "unknown",
                    "plugintype": storage.type,
                    "content": storage.content,
                    "shared": 1 if storage.shared else 0,
                }
                if node.online:
                    entry["disk"] = cluster.storage_used(storage.name, name)
                    entry["maxdisk"] = storage.total
                result.append(entry)
    if kind in (None, "sdn"):
        for name, node in cluster.nodes.items():
            result.append(
                {
                    "id": f"sdn/{name}/localnetwork",
                    "type": "sdn",
                    "sdn": "localnetwork",
                    "node": name,
                    "status": "ok" if node.online else "unknown",
                }
            )
    return result


@table.route("GET", "/cluster/nextid")
def nextid(call: Call) -> str:
    """Return a free VMID as a string; with ?vmid=N answer N or 400 if taken (Cluster.pm `nextid`)."""
    cluster = call.sim.cluster
    wanted = call.params.get("vmid")
    if wanted is not None:
        if int(wanted) in cluster.vms:
            raise PveError(400, "Parameter verification failed.", {"vmid": f"VM {wanted} already exists"})
        return str(wanted)
    free = cluster.next_free_id()
    if free is None:
        config = cluster.config
        raise PveError(500, f"unable to get any free VMID in range [{config.next_id_lower}, {config.next_id_upper}]")
    return str(free)
