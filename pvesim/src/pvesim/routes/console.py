"""Console endpoints: vncproxy, termproxy and spiceproxy (Qemu.pm; AccessControl.pm `remote_viewer_config`)."""

from __future__ import annotations

import secrets
import time
from typing import Any

from pvesim.auth import make_ticket
from pvesim.errors import PveError, TaskError
from pvesim.routes.common import load_vm
from pvesim.routing import Call, RouteTable
from pvesim.tasks import Task

table = RouteTable()

# vncproxy passwords are 8 characters from '!' to '`' (qemu-server 9.1.7 "always use a freshly generated password").
_VNC_ALPHABET = "".join(chr(c) for c in range(ord("!"), ord("`") + 1))


def _vnc_ticket(call: Call) -> str:
    base = make_ticket(call.sim.cluster.secret, call.user)
    return "PVEVNC" + base[len("PVE") :]


def _console_task(call: Call, port: int) -> Task:
    def work(task: Task) -> None:
        # The worker waits 10 s for the websocket; nobody connects in the simulator.
        raise TaskError("connection timed out")

    lines = [f"starting vnc proxy on port {port}"]
    return call.sim.tasks.spawn(call.node, "vncproxy", str(call.vmid), call.user, work, first_lines=lines)


def _require_running(call: Call) -> None:
    vm = load_vm(call)
    if vm.status != "running":
        raise PveError(500, f"VM {vm.vmid} not running")


@table.route("POST", "/nodes/{node}/qemu/{vmid}/vncproxy")
def vncproxy(call: Call) -> dict[str, Any]:
    """Open a VNC proxy; returns ticket, port (a string, as Perl sends it), cert, upid and password."""
    _require_running(call)
    port = call.sim.next_vnc_port()
    password = "".join(secrets.choice(_VNC_ALPHABET) for _ in range(8))
    task = _console_task(call, port)
    return {
        "user": call.user.split("!")[0],
        "ticket": _vnc_ticket(call),
        "port": str(port),
        "upid": task.upid,
        "cert": call.sim.tls.cert_pem(),
        "password": password,
    }


@table.route("POST", "/nodes/{node}/qemu/{vmid}/termproxy")
def termproxy(call: Call) -> dict[str, Any]:
    """Open a serial terminal proxy."""
    vm = load_vm(call)
    serial = call.params.get("serial")
    if serial is not None and serial not in vm.config:
        raise PveError(500, f"serial interface '{serial}' is not configured")
    _require_running(call)
    port = call.sim.next_vnc_port()
    task = _console_task(call, port)
    return {"user": call.user.split("!")[0], "ticket": _vnc_ticket(call), "port": str(port), "upid": task.upid}


@table.route("POST", "/nodes/{node}/qemu/{vmid}/spiceproxy")
def spiceproxy(call: Call) -> dict[str, Any]:
    """Return a remote-viewer (.vv) config for a running VM."""
    vm = load_vm(call)
    if vm.status != "running":
        raise PveError(500, f"VM {vm.vmid} not running")
    node = call.node
    domain = f"{call.sim.config.cluster_name}.local"
    proxy = call.params.get("proxy") or f"{node}.{domain}"
    stamp = f"{int(time.time()):08X}"
    ca = call.sim.tls.ca_file.read_text(encoding="ascii")
    return {
        "type": "spice",
        "host": f"pvespiceproxy:{stamp}:{vm.vmid}:{node}::{secrets.token_hex(20)}",
        "proxy": f"http://{proxy}:3128",
        "tls-port": 61000,
        "password": secrets.token_hex(20),
        "host-subject": f"OU=PVE Cluster Node,O=Proxmox Virtual Environment,CN={node}.{domain}",
        "ca": ca.replace("\n", "\\n"),
        "title": f"VM {vm.vmid} - {vm.name}",
        "delete-this-file": 1,
        "secure-attention": "Ctrl+Alt+Ins",
        "toggle-fullscreen": "Shift+F11",
        "release-cursor": "Ctrl+Alt+R",
    }
