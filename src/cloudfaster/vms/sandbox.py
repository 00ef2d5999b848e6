"""The sandbox: an embedded pvesim that stands in for a cluster when no Proxmox VE node is configured."""

from __future__ import annotations

import asyncio
import logging
from contextlib import ExitStack

from rich.console import Console
from rich.panel import Panel

from cloudfaster.settings import ProxmoxNode, ProxmoxSettings

log = logging.getLogger("cloudfaster.vms.sandbox")

# Realistic but short task durations, in seconds.
SANDBOX_DURATIONS = {"qmclone": 2.0, "qmstart": 1.0, "qmstop": 0.5, "qmshutdown": 1.0, "qmreboot": 1.0,
                     "qmdestroy": 0.5, "resize": 0.5, "qmconfig": 0.1, "qmpause": 0.2, "qmresume": 0.2}  # fmt: skip


class Sandbox:
    """A pvesim running in this process on 127.0.0.1 and a random port."""

    def __init__(self) -> None:
        self._stack = ExitStack()
        self.url: str | None = None

    async def start(self, base: ProxmoxSettings) -> ProxmoxSettings:
        """Start the simulator and return Proxmox settings that point at it."""
        return await asyncio.to_thread(self._start, base)

    def _start(self, base: ProxmoxSettings) -> ProxmoxSettings:
        from pvesim.config import SimConfig
        from pvesim.testing import start_pvesim

        config = SimConfig(auth_failure_delay=0.0)
        config.task_durations.update(SANDBOX_DURATIONS)
        sim = self._stack.enter_context(start_pvesim(config))
        self.url = sim.base_url
        nodes = [ProxmoxNode(name=name, host=sim.host, port=sim.port) for name in sim.cluster.nodes]
        settings = base.model_copy(
            update={
                "nodes": nodes,
                "token_id": sim.token_id,
                "token_secret": base.token_secret.__class__(sim.token_secret),
                "ca_file": sim.ca_file,
                "verify_ssl": True,
                "task_poll_interval_s": min(base.task_poll_interval_s, 0.1),
            }
        )
        announce(sim.base_url, [node.name for node in nodes])
        return settings

    async def stop(self) -> None:
        """Stop the simulator."""
        await asyncio.to_thread(self._stack.close)


def announce(url: str, nodes: list[str]) -> None:
    """Say loudly that VMs are simulated."""
    message = (
        f"No Proxmox VE node is configured, so CloudFaster runs against an embedded SIMULATOR (pvesim) at {url} "
        f"with nodes {', '.join(nodes)}. VMs created now are NOT real and vanish on restart. "
        "Configure CLOUDFASTER_PROXMOX__NODES to use a real cluster."
    )
    log.warning("SANDBOX MODE: %s", message)
    Console(stderr=True).print(Panel(message, title="CloudFaster: SANDBOX MODE", border_style="bold red"))
