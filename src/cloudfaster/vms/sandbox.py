"""The sandbox: an embedded pvesim that stands in for a cluster when no Proxmox VE node is configured.

The one module of CloudFaster (MIT) that imports pvesim (a separate AGPL-3.0-or-later distribution in this
repository), and only its embedding API, `pvesim.embed`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, ExitStack
from typing import TYPE_CHECKING

from cloudfaster.logs.banner import banner
from cloudfaster.settings import ProxmoxNode, ProxmoxSettings

if TYPE_CHECKING:
    from pvesim.embed import EmbeddedPveSim

log = logging.getLogger("cloudfaster.vms.sandbox")

# Realistic but short task durations, in seconds.
SANDBOX_DURATIONS = {"qmclone": 2.0, "qmstart": 1.0, "qmstop": 0.5, "qmshutdown": 1.0, "qmreboot": 1.0,
                     "qmdestroy": 0.5, "resize": 0.5, "qmconfig": 0.1, "qmpause": 0.2, "qmresume": 0.2,
                     "qmsnapshot": 1.0, "qmdelsnapshot": 0.5, "qmrollback": 1.0, "vzdump": 3.0, "qmrestore": 3.0,
                     "imgdel": 0.2}  # fmt: skip


MISSING_PVESIM = (
    "the sandbox needs pvesim, which is not installed: run `pip install -c requirements.lock -e ./pvesim` in the "
    "repository (scripts/bootstrap.sh does), or configure CLOUDFASTER_PROXMOX__NODES to use a real cluster"
)


class SandboxUnavailableError(RuntimeError):
    """pvesim is not installed, so no sandbox can start; the message is one line that says how to install it."""

    def __init__(self) -> None:
        super().__init__(MISSING_PVESIM)


def _load_pvesim() -> Callable[[Mapping[str, float] | None], AbstractContextManager[EmbeddedPveSim]]:
    # pvesim is a separate (AGPL) distribution and optional at run time: import it only when a sandbox starts.
    try:
        from pvesim.embed import start_embedded
    except ModuleNotFoundError as exc:
        if exc.name != "pvesim" and not (exc.name or "").startswith("pvesim."):
            raise  # pvesim is there but one of its own dependencies is not: say which, not "not installed"
        raise SandboxUnavailableError from None
    return start_embedded


def check_sandbox_available() -> None:
    """Raise `SandboxUnavailableError` now if a sandbox could not start (call it before serving, to fail early)."""
    _load_pvesim()


class Sandbox:
    """A pvesim running in this process on 127.0.0.1 and a random port."""

    def __init__(self) -> None:
        self._stack = ExitStack()
        self.url: str | None = None

    async def start(self, base: ProxmoxSettings) -> ProxmoxSettings:
        """Start the simulator and return Proxmox settings that point at it."""
        return await asyncio.to_thread(self._start, base)

    def _start(self, base: ProxmoxSettings) -> ProxmoxSettings:
        try:
            start_embedded = _load_pvesim()
        except SandboxUnavailableError:
            log.error("SANDBOX UNAVAILABLE: %s", MISSING_PVESIM)
            raise
        sim = self._stack.enter_context(start_embedded(SANDBOX_DURATIONS))
        self.url = sim.base_url
        nodes = [ProxmoxNode(name=name, host=sim.host, port=sim.port) for name in sim.nodes]
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
    banner(message, title="CloudFaster: SANDBOX MODE", style="bold red")
