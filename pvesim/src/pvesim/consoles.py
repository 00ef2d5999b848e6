"""Console proxies opened by vncproxy/termproxy: one port, one connection, a task that lives as long as it does.

Sources (shared notes pve-behaviour-2.md §1): qemu-server Qemu.pm `vncproxy`/`termproxy` (port from
`next_vnc_port`, the worker waits 10 s for its one connection, `alarm 10`, then closes the listener; the task ends
`connection timed out` when nobody came), qm.pm `vncproxy` (a stopped VM makes `set_password` die: `Failed to run
vncproxy.`), termproxy main.rs (exit 1 makes the task fail `command '/usr/bin/termproxy …' failed: exit code 1`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from pvesim.tasks import Task
from pvesim.vncauth import generate_vnc_password, make_vnc_ticket

if TYPE_CHECKING:
    from pvesim.simulator import Simulator

ConsoleKind = Literal["vnc", "term"]
FIRST_PORT = 5900
PORTS = 100  # 5900-5999 (the schema's vncwebsocket `port` range)


@dataclass
class ConsoleProxy:
    """One proxy: who may connect where, with which ticket and password."""

    kind: ConsoleKind
    node: str
    vmid: int
    port: int
    user: str  # the authenticated user the ticket is signed for (`user@realm!token` for tokens)
    ticket: str
    password: str | None
    task: Task
    connected: bool = False
    timer: asyncio.TimerHandle | None = field(default=None, repr=False)

    @property
    def path(self) -> str:
        """Return the ACL path the ticket is signed for."""
        return f"/vms/{self.vmid}"


class Consoles:
    """The open console proxies of a simulator, by port."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.proxies: dict[int, ConsoleProxy] = {}
        self._next = 0

    def _free_port(self) -> int:
        for _ in range(PORTS):
            port = FIRST_PORT + self._next
            self._next = (self._next + 1) % PORTS
            if port not in self.proxies:
                return port
        # pve-common Tools.pm next_unused_port.
        raise RuntimeError(f"unable to find free port ({FIRST_PORT}-{FIRST_PORT + PORTS})")

    def open(self, kind: ConsoleKind, node: str, vmid: int, user: str) -> ConsoleProxy:
        """Start a proxy task on a free port and wait (in the background) for its one connection."""
        port = self._free_port()
        password = generate_vnc_password() if kind == "vnc" else None
        ticket = make_vnc_ticket(self.sim.cluster.secret, user, f"/vms/{vmid}", port)
        if password is not None:
            # qemu-server 9.1.7 (commit 282ec11d): the ticket carries the password in front, so that clients that
            # pass the ticket as VNC password still work (VNC auth uses only the first 8 bytes).
            ticket = f"{password}:{ticket}"
        lines = [f"starting {'vnc' if kind == 'vnc' else 'termproxy'} proxy on port {port}"]
        task = self.sim.tasks.start(node, "vncproxy", str(vmid), user, first_lines=lines)
        proxy = ConsoleProxy(kind, node, vmid, port, user, ticket, password, task)
        self.proxies[port] = proxy
        timeout = self.sim.config.console_accept_timeout
        proxy.timer = asyncio.get_running_loop().call_later(timeout, self._timed_out, proxy)
        return proxy

    def _timed_out(self, proxy: ConsoleProxy) -> None:
        if not proxy.connected:
            self.close(proxy, "connection timed out")

    def claim(self, port: int) -> ConsoleProxy | None:
        """Take the proxy's one connection; None if there is no proxy on that port (timed out or used)."""
        proxy = self.proxies.get(port)
        if proxy is None or proxy.connected:
            return None
        proxy.connected = True
        if proxy.timer is not None:
            proxy.timer.cancel()
        return proxy

    def close(self, proxy: ConsoleProxy, error: str | None = None) -> None:
        """End the proxy: free its port and stop its task (OK, or with `error`)."""
        if self.proxies.get(proxy.port) is proxy:
            del self.proxies[proxy.port]
        if proxy.timer is not None:
            proxy.timer.cancel()
        if proxy.task.status == "running":
            self.sim.tasks.end(proxy.task, error)

    def shutdown(self) -> None:
        """Cancel every waiting proxy."""
        for proxy in list(self.proxies.values()):
            self.close(proxy, "interrupted by signal")
