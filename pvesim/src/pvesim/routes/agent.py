"""Guest agent endpoints: `agent/network-get-interfaces` and `agent/ping` (qemu-server API2/Qemu/Agent.pm).

Every command checks, in this order, each failure a 500 with the message as reason (QemuServer/Agent.pm
`assert_agent_available`): the config exists; the `agent` key is present (`No QEMU guest agent configured`); the VM
runs (`VM <vmid> is not running`, with "is", unlike the power actions); `guest-ping` answers (`QEMU guest agent is not
running`). `agent: 0` reaches the last message too: QEMU then has no agent socket. Success is `{"result": <QGA
return value>}`; the calls are synchronous (no UPID).
"""

from __future__ import annotations

import time
from typing import Any

from pvesim.agent import network_interfaces
from pvesim.cluster import Vm
from pvesim.errors import PveError
from pvesim.routes.common import load_vm
from pvesim.routing import Call, RouteTable

table = RouteTable()


def _enabled(vm: Vm) -> bool:
    """`agent` is a property string whose default key is `enabled` (`1`, `enabled=1`, `1,fstrim_cloned_disks=1`)."""
    first = str(vm.config.get("agent", "0")).split(",")[0]
    return first.removeprefix("enabled=") in ("1", "on", "yes", "true")


def _agent_vm(call: Call) -> Vm:
    vm = load_vm(call)
    if "agent" not in vm.config:
        raise PveError(500, "No QEMU guest agent configured")
    if vm.status != "running":
        raise PveError(500, f"VM {vm.vmid} is not running")
    booting = vm.started_at is not None and time.time() - vm.started_at < call.sim.config.agent_start_delay
    paused = vm.qmpstatus != "running"  # a paused guest cannot answer guest-ping
    if not _enabled(vm) or booting or paused or vm.vmid in call.sim.faults.agent_down:
        raise PveError(500, "QEMU guest agent is not running")
    return vm


@table.route("POST", "/nodes/{node}/qemu/{vmid}/agent/ping")
def ping(call: Call) -> dict[str, Any]:
    """Ping the guest agent: an empty result when it answers."""
    _agent_vm(call)
    return {"result": {}}


@table.route("GET", "/nodes/{node}/qemu/{vmid}/agent/network-get-interfaces")
def network_get_interfaces(call: Call) -> dict[str, Any]:
    """The guest's interfaces with their addresses: its cloud-init static address, else its DHCP lease."""
    vm = _agent_vm(call)
    result = network_interfaces(call.sim.cluster, vm)
    call.sim.mark_dirty()  # a new DHCP lease is state
    return {"result": result}
