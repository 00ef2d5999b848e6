"""The VM feature's wired-up parts: settings, database and the hypervisor (set at start-up)."""

from __future__ import annotations

from dataclasses import dataclass, field

from cloudfaster.core.errors import UpstreamUnavailableError
from cloudfaster.db.engine import Database
from cloudfaster.proxmox.hypervisor import Hypervisor
from cloudfaster.settings import ProxmoxSettings, Settings


@dataclass
class VmRuntime:
    """What the VM service, routes and operation kinds share."""

    settings: Settings
    db: Database
    hypervisor: Hypervisor | None = None
    # The Proxmox settings in effect: the configured ones, or the embedded sandbox's.
    proxmox: ProxmoxSettings = field(default_factory=ProxmoxSettings)
    sandbox: bool = False

    def hv(self) -> Hypervisor:
        """The hypervisor; 503 until start-up has connected it."""
        if self.hypervisor is None:
            raise UpstreamUnavailableError("Proxmox VE is not connected yet", code="proxmox_unavailable")
        return self.hypervisor

    @property
    def node_names(self) -> list[str]:
        """The nodes CloudFaster may place VMs on, in configured order."""
        return [node.name for node in self.proxmox.nodes]
