"""The VM's QEMU guest agent as CloudFaster shows it: running with the interfaces it reports, or why not."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cloudfaster.proxmox.errors import ProxmoxAgentUnavailableError, ProxmoxError, ProxmoxNotRunningError
from cloudfaster.proxmox.hypervisor import Hypervisor
from cloudfaster.vms.errors import app_error


@dataclass(frozen=True, slots=True)
class Agent:
    """What the VM's QEMU guest agent says: ``state`` is ``running`` (with the interfaces it reports),
    ``not_running`` (not yet, or the guest has none), ``disabled``, ``vm_not_running`` or ``unavailable``."""

    state: str
    message: str | None = None
    interfaces: list[dict[str, Any]] = field(default_factory=list)

    def given(self, config: dict[str, Any]) -> Agent:
        """This answer read with the VM's config: ``agent: 0`` fails like a silent agent, but is disabled."""
        if self.state == "not_running" and not agent_enabled(config):
            return Agent("disabled", "the guest agent is disabled for this VM (agent: 0)")
        return self


def agent_enabled(config: dict[str, Any]) -> bool:
    """``agent`` is a property string whose default key is ``enabled`` (``1``, ``enabled=1,fstrim_cloned_disks=1``)."""
    first = str(config.get("agent", "0")).split(",")[0].removeprefix("enabled=")
    return first in ("1", "on", "yes", "true")


async def read_agent(hv: Hypervisor, node: str, vmid: int) -> Agent:
    """Ask the guest agent for the VM's interfaces; why it cannot answer, said plainly, never an error."""
    try:
        interfaces = await hv.agent_interfaces(node, vmid)
    except ProxmoxAgentUnavailableError as exc:
        if exc.reason == "not_configured":
            return Agent("disabled", "no QEMU guest agent is configured for this VM")
        return Agent(
            "not_running",
            "the QEMU guest agent is not running (yet): the guest may still be booting, or has no qemu-guest-agent",
        )
    except ProxmoxNotRunningError:
        return Agent("vm_not_running", "the VM is not running, so neither is its guest agent")
    except ProxmoxError as exc:
        return Agent("unavailable", app_error(exc, node=node).message)
    return Agent("running", None, interfaces)
