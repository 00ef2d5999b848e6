"""Console endpoints: vncproxy, termproxy, vncwebsocket and spiceproxy (Qemu.pm; AccessControl.pm
`remote_viewer_config`)."""

from __future__ import annotations

import re
import secrets
import time
from functools import partial
from typing import Any

from pvesim.cluster import Vm
from pvesim.errors import PveError
from pvesim.routes.common import load_vm
from pvesim.routing import Call, RouteTable, Upgrade
from pvesim.vncauth import verify_vnc_ticket
from pvesim.wsconsole import serve_console

table = RouteTable()


@table.route("POST", "/nodes/{node}/qemu/{vmid}/vncproxy")
def vncproxy(call: Call) -> dict[str, Any]:
    """Open a VNC proxy; returns ticket, port (a string, as Perl sends it), cert, upid and password.

    The VM need not be running (qemu-server changelog "vncproxy: remove check if VM is running"): a stopped VM's
    websocket is upgraded and closed at once.
    """
    load_vm(call)
    proxy = call.sim.consoles.open("vnc", call.node, call.vmid, call.user)
    return {
        "user": call.user.split("!")[0],
        "ticket": proxy.ticket,
        "port": str(proxy.port),
        "upid": proxy.task.upid,
        "cert": call.sim.tls.cert_pem(),
        "password": proxy.password,
    }


@table.route("POST", "/nodes/{node}/qemu/{vmid}/termproxy")
def termproxy(call: Call) -> dict[str, Any]:
    """Open a serial terminal proxy: a plain PVEVNC ticket, no password (Qemu.pm `termproxy`)."""
    vm = load_vm(call)
    serial = call.params.get("serial")
    if serial is not None and serial not in vm.config:
        raise PveError(500, f"serial interface '{serial}' is not configured")
    proxy = call.sim.consoles.open("term", call.node, call.vmid, call.user)
    return {"user": call.user.split("!")[0], "ticket": proxy.ticket, "port": str(proxy.port), "upid": proxy.task.upid}


@table.route("GET", "/nodes/{node}/qemu/{vmid}/vncwebsocket")
def vncwebsocket(call: Call) -> Upgrade:
    """Check the ticket against the caller, then upgrade to the proxy's console (Qemu.pm `vncwebsocket`).

    Order as in PVE: permission (pvesim models no ACLs: every caller is allowed), parameters (validated before the
    handler), the ticket for (caller, /vms/<vmid>, port), the config.
    """
    port = int(call.params["port"])
    if not verify_vnc_ticket(
        call.sim.cluster.secret, str(call.params["vncticket"]), call.user, f"/vms/{call.vmid}", port
    ):
        raise PveError(401, "permission denied - invalid PVEVNC ticket")
    load_vm(call)
    return Upgrade({"port": str(port)}, partial(serve_console, call.sim, port))


def has_spice(vm: Vm) -> bool:
    """Whether the VM's display is SPICE: `vga` of type qxl, qxl2, qxl3 or qxl4 (QemuServer.pm `vga_conf_has_spice`)."""
    first = str(vm.config.get("vga", "")).split(",")[0]
    return re.fullmatch(r"qxl[234]?", first.removeprefix("type=")) is not None


@table.route("POST", "/nodes/{node}/qemu/{vmid}/spiceproxy")
def spiceproxy(call: Call) -> dict[str, Any]:
    """Return a remote-viewer (.vv) config for a running VM with a SPICE display.

    Qemu.pm `spiceproxy` asks QEMU for its SPICE port (QemuServer.pm `spice_port`, QMP `query-spice`): a stopped VM
    fails in the monitor call (`VM <vmid> not running`), a VM without a SPICE display has no port (`no spice port`).
    """
    vm = load_vm(call)
    if vm.status != "running":
        raise PveError(500, f"VM {vm.vmid} not running")
    if not has_spice(vm):
        raise PveError(500, "no spice port")
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
