"""The VM feature's wired-up parts: settings, database, runner and the hypervisor (connected at start-up)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from cloudfaster.core.cache import SingleFlightCache
from cloudfaster.core.errors import UpstreamUnavailableError
from cloudfaster.core.runner.runner import OperationRunner
from cloudfaster.db.engine import Database
from cloudfaster.proxmox.client import ApiToken, ClientOptions, NodeAddress, ProxmoxCluster
from cloudfaster.proxmox.hypervisor import Hypervisor
from cloudfaster.proxmox.types import GuestInfo, NodeLoad
from cloudfaster.settings import ProxmoxSettings, Settings
from cloudfaster.vms.allocation import VmidProbes

ClusterView = tuple[list[NodeLoad], list[GuestInfo]]


def connect(settings: ProxmoxSettings) -> ProxmoxCluster:
    """A client for the cluster ``settings`` describe (their nodes must not be empty)."""
    return ProxmoxCluster(
        [NodeAddress(node.name, node.host, node.port) for node in settings.nodes],
        ApiToken(settings.token_id, settings.token_secret.get_secret_value()),
        ClientOptions(
            verify=settings.ca_file if settings.ca_file else settings.verify_ssl,
            timeout_s=settings.timeout_s,
            api_threads=settings.api_threads,
            transient_retries=settings.transient_retries,
            retry_backoff_s=settings.retry_backoff_s,
            task_poll_interval_s=settings.task_poll_interval_s,
            task_timeout_s=settings.task_timeout_s,
        ),
    )


@dataclass
class VmRuntime:
    """What the VM service, routes and operation kinds share."""

    settings: Settings
    db: Database
    runner: OperationRunner
    hypervisor: Hypervisor | None = None
    # The Proxmox settings in effect: the configured ones, or the embedded sandbox's.
    proxmox: ProxmoxSettings = field(default_factory=ProxmoxSettings)
    sandbox: bool = False
    # The OS catalog read from the templates (vms.templates); templates rarely change.
    templates: SingleFlightCache[str, Any] = field(default_factory=lambda: SingleFlightCache(ttl_s=300))
    # What Proxmox answered lately about free VMIDs (probed outside the reservation's transaction).
    vmids: VmidProbes = field(default_factory=VmidProbes)
    # The creates of this process in progress: VMID -> (node, memory bytes), for placement to see them at once.
    placed: dict[int, tuple[str, int]] = field(default_factory=dict)
    # The nodes and guests placement weighs, read once for the creates of the same second (a burst asks once);
    # what those creates place is in ``placed`` meanwhile.
    view: SingleFlightCache[str, ClusterView] = field(default_factory=lambda: SingleFlightCache(ttl_s=1.0))

    def connect(self) -> bool:
        """Connect the hypervisor for the Proxmox settings in effect; False (nothing connected) without nodes."""
        if not self.proxmox.nodes:
            return False
        self.hypervisor = connect(self.proxmox)
        return True

    async def disconnect(self) -> None:
        """Close the hypervisor, if connected."""
        hv, self.hypervisor = self.hypervisor, None
        if hv is not None:
            await hv.close()

    def hv(self) -> Hypervisor:
        """The hypervisor; 503 until start-up has connected it."""
        if self.hypervisor is None:
            raise UpstreamUnavailableError("Proxmox VE is not connected yet", code="proxmox_unavailable")
        return self.hypervisor

    async def cluster_view(self) -> ClusterView:
        """Every node with its load and every guest, at most a second old."""
        hv = self.hv()

        async def load() -> ClusterView:
            nodes, guests = await asyncio.gather(hv.nodes(), hv.guests())
            return nodes, guests

        return await self.view.get("cluster", load)

    @property
    def node_names(self) -> list[str]:
        """The nodes CloudFaster may place VMs on, in configured order."""
        return [node.name for node in self.proxmox.nodes]
