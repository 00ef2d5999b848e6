"""Request and response bodies of the VM API."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from cloudfaster.api.accepted import OperationRef, operation_ref
from cloudfaster.api.schemas.core import UserId
from cloudfaster.vms.console import TOKEN_PROTOCOL, ConsoleGrant
from cloudfaster.vms.guest import Agent
from cloudfaster.vms.params import PowerAction, PowerOptions, Resources, VmSpec
from cloudfaster.vms.reconcile import VmDrift
from cloudfaster.vms.service import Live, VmState
from cloudfaster.vms.sshkeys import check_public_key
from cloudfaster.vms.templates import Catalog

__all__ = [
    "ConsoleLink",
    "ConsoleRequest",
    "OsCatalog",
    "PowerAction",
    "PowerOptions",
    "ReconcileResult",
    "SizeName",
    "VMAddress",
    "VMAgent",
    "VMCreate",
    "VMLive",
    "VMRead",
    "VMUpdate",
    "VmStatusName",
]

Hostname = Annotated[
    str,
    StringConstraints(min_length=1, max_length=63, pattern=r"^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?$"),
]
NodeName = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z0-9][a-zA-Z0-9-]{0,62}$")]
OsName = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]
Cores = Annotated[int, Field(ge=1, le=128, description="vCPU cores")]
MemoryMb = Annotated[int, Field(ge=256, le=1_048_576, description="RAM in MB")]
DiskGb = Annotated[int, Field(ge=1, le=65_536, description="Boot disk size in GB")]
SizeName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,31}$")]
ConsoleKind = Literal["vnc", "term", "spice"]
# A SPICE display: vga qxl, qxl2, qxl3 or qxl4 (qemu-server QemuServer.pm vga_conf_has_spice).
SPICE_VGA = re.compile(r"(type=)?qxl[234]?(,|$)")
# termproxy runs `qm terminal`, which needs a serial port serial0..serial3 (qemu-server PVE/CLI/qm.pm `terminal`).
SERIAL_PORT = re.compile(r"serial[0-3]")
VmStatusName = Literal["creating", "enabled", "failed", "deleting", "deleted", "missing", "rebuilding", "restoring"]


class VMCreate(VmSpec):
    """Create a VM from the OS's template, with a named ``size`` or explicit cores, memory and disk (or both:
    explicit values override the size's)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    userid: UserId | None = Field(default=None, description="The owner; a user key may only name itself")
    name: Hostname = Field(description="Hostname-style: letters, digits and '-', at most 63 characters")
    os: OsName = Field(description="An OS with a template, e.g. debian-12 (see GET /vm/os)")
    size: SizeName | None = Field(default=None, description="A named size (see GET /sizes), e.g. small")
    cores: Cores | None = Field(default=None, description="vCPU cores; overrides the size's")
    memory: MemoryMb | None = Field(default=None, description="RAM in MB; overrides the size's")
    disk: DiskGb | None = Field(default=None, description="Boot disk size in GB; overrides the size's")
    sshkeys: list[str] = Field(min_length=1, max_length=32, description="One or more OpenSSH public keys")
    node: NodeName | None = Field(default=None, description="Preferred node; others are used if it fails")

    @field_validator("sshkeys", mode="before")
    @classmethod
    def _lines(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [line for line in value.splitlines() if line.strip()]
        return value

    @field_validator("sshkeys")
    @classmethod
    def _valid_keys(cls, keys: list[str]) -> list[str]:
        checked = []
        for index, key in enumerate(keys):
            try:
                checked.append(check_public_key(key))
            except ValueError as exc:
                raise ValueError(f"sshkeys[{index}] is not a valid OpenSSH public key: {exc}") from None
        return checked


class VMUpdate(Resources):
    """Change resources; fields left out stay as they are. Disks only grow."""

    model_config = ConfigDict(extra="forbid", strict=True)

    cores: Cores | None = None
    memory: MemoryMb | None = None
    disk: DiskGb | None = None

    @model_validator(mode="after")
    def _something(self) -> VMUpdate:
        if self.cores is None and self.memory is None and self.disk is None:
            raise ValueError("give at least one of cores, memory, disk")
        return self


class ConsoleRequest(BaseModel):
    """Which console to open."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["vnc", "term", "spice"] = Field(
        "vnc", description="vnc: the display (noVNC page); term: the serial console (xterm.js page); spice: a .vv file"
    )


class ConsoleLink(BaseModel):
    """A console in the browser: open ``url``, or connect to ``websocket_url`` yourself. Valid once, briefly."""

    type: Literal["vnc", "term"]
    vmid: int
    url: str = Field(description="The console page, with the token in its fragment; open it within a minute")
    websocket_url: str = Field(description="The websocket the page connects to (RFB with security None, or a terminal)")
    websocket_protocol: str = Field(
        description="Offer this websocket subprotocol (beside `binary`): it carries the token"
    )
    token: str = Field(description="The one-time token, shown once")
    expires_at: datetime

    @classmethod
    def of(cls, grant: ConsoleGrant, base_url: str) -> ConsoleLink:
        """The link for a token just issued, on the server the client called."""
        base = base_url.rstrip("/")
        ws_base = "wss" + base[len("https") :] if base.startswith("https") else "ws" + base[len("http") :]
        return cls(
            type=grant.kind,
            vmid=grant.vmid,
            url=f"{base}/console/{grant.vmid}/{grant.kind}#token={grant.token}",
            websocket_url=f"{ws_base}/console/{grant.vmid}/ws",
            websocket_protocol=TOKEN_PROTOCOL + grant.token,
            token=grant.token,
            expires_at=grant.expires_at,
        )


class VMAddress(BaseModel):
    """An address of the VM and where CloudFaster knows it from."""

    address: str
    prefix: int | None = None
    version: Literal[4, 6]
    source: Literal["pool", "agent"] = Field(description="pool: handed out by CloudFaster; agent: the guest says so")
    pool: str | None = Field(default=None, description="The IP pool it comes from (source pool)")
    interface: str | None = Field(default=None, description="The guest's interface (source agent)")


class VMAgent(BaseModel):
    """The QEMU guest agent: running, or plainly why not (not_running: not yet, or none in the guest)."""

    state: Literal["running", "not_running", "disabled", "vm_not_running", "unavailable"]
    message: str | None = None

    @classmethod
    def of(cls, agent: Agent) -> VMAgent:
        """The view of the agent's answer."""
        return cls.model_validate({"state": agent.state, "message": agent.message})


def _agent_addresses(agent: Agent) -> list[VMAddress]:
    """What the agent reports, without loopback and link-local addresses (nobody can reach the VM at those)."""
    found = []
    for nic in agent.interfaces:
        for entry in nic.get("ip-addresses") or []:
            try:
                address = ipaddress.ip_address(str(entry.get("ip-address")))
            except ValueError:
                continue
            if address.is_loopback or address.is_link_local:
                continue
            prefix = entry.get("prefix")
            found.append(
                VMAddress(
                    address=str(address),
                    prefix=prefix if isinstance(prefix, int) else None,
                    version=address.version,
                    source="agent",
                    interface=str(nic.get("name") or "") or None,
                )
            )
    return found


def _ssh_command(user: str | None, addresses: list[VMAddress]) -> str | None:
    """``ssh user@address`` for the address most likely reachable: a pool's IPv4, the agent's, then IPv6."""
    if not user or not addresses:
        return None
    best = min(addresses, key=lambda a: (a.version, a.source != "pool", ipaddress.ip_address(a.address).is_private))
    return f"ssh {user}@{best.address}"


class VMLive(BaseModel):
    """Power state, usage and config from Proxmox right now."""

    power: str
    qmpstatus: str
    uptime_s: int
    cpus: int
    cpu_usage: float
    memory_bytes: int
    memory_used_bytes: int
    disk_bytes: int
    lock: str | None = None
    pending: dict[str, str] = Field(default_factory=dict, description="Changes that wait for a reboot")
    config: dict[str, Any] = Field(default_factory=dict)
    consoles: list[ConsoleKind] = Field(
        default_factory=lambda: list[ConsoleKind](["vnc"]),
        description="Consoles POST /vm/{vmid}/console can open (term needs a serial port, SPICE a qxl display)",
    )

    @classmethod
    def of(cls, live: Live) -> VMLive:
        """The view of what Proxmox VE reports."""
        status = live.status
        return cls(
            power=status.power,
            qmpstatus=status.qmpstatus,
            uptime_s=status.uptime_s,
            cpus=status.cpus,
            cpu_usage=status.cpu_usage,
            memory_bytes=status.memory_bytes,
            memory_used_bytes=status.memory_used_bytes,
            disk_bytes=status.disk_bytes,
            lock=status.lock,
            pending=live.pending,
            config=live.config,
            consoles=_consoles(live.config),
        )


def _consoles(config: dict[str, Any]) -> list[ConsoleKind]:
    """The consoles a VM with this config has: always VNC, the serial terminal, SPICE with a qxl display."""
    found: list[ConsoleKind] = ["vnc"]
    if any(SERIAL_PORT.fullmatch(key) for key in config):
        found.append("term")
    if SPICE_VGA.match(str(config.get("vga", ""))):
        found.append("spice")
    return found


class VMRead(BaseModel):
    """A VM: our record, plus live data from Proxmox when asked for one VM."""

    vmid: int
    userid: str | None
    name: str
    os: str
    cores: int
    memory: int
    disk: int
    sshkeys: list[str]
    node: str | None
    status: str
    status_detail: dict[str, Any] | None
    protected: bool = False
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None
    operation: OperationRef | None = None
    addresses: list[VMAddress] = Field(
        default_factory=list, description="From its IP pool, and (GET of one VM) as its guest agent reports them"
    )
    login_user: str | None = Field(default=None, description="The cloud-init user to log in as (GET of one VM)")
    ssh: str | None = Field(default=None, description="A ready-to-paste ssh command, once an address is known")
    agent: VMAgent | None = Field(default=None, description="The QEMU guest agent, when the VM's node answers")
    live: VMLive | None = None
    live_error: dict[str, Any] | None = None

    @classmethod
    def of(cls, state: VmState) -> VMRead:
        """The view of a VM as the service returns it."""
        vm, error = state.vm, state.live_error
        addresses = [
            VMAddress(
                address=h.address.address,
                prefix=ipaddress.ip_network(h.pool.cidr).prefixlen,
                version=6 if ":" in h.address.address else 4,
                source="pool",
                pool=h.pool.name,
            )
            for h in state.addresses
        ]
        agent = state.live.agent if state.live else None
        if agent is not None:
            addresses += _agent_addresses(agent)
        return cls(
            vmid=vm.vmid,
            userid=state.owner,
            name=vm.name,
            os=vm.os,
            cores=vm.cores,
            memory=vm.memory_mb,
            disk=vm.disk_gb,
            sshkeys=[line for line in vm.sshkeys.splitlines() if line],
            node=vm.node,
            status=vm.status,
            status_detail=vm.status_detail,
            protected=vm.protected,
            created_at=vm.created_at,
            updated_at=vm.updated_at,
            deleted_at=vm.deleted_at,
            operation=operation_ref(state.operation) if state.operation else None,
            addresses=addresses,
            login_user=state.login_user,
            ssh=_ssh_command(state.login_user, addresses),
            agent=VMAgent.of(agent) if agent else None,
            live=VMLive.of(state.live) if state.live else None,
            live_error={"code": error.code, "message": error.message} if error else None,
        )


class ReconcileResult(BaseModel):
    """What a reconcile pass found."""

    checked: int
    missing: list[int]
    moved: list[int]
    drifted: list[int]
    back: list[int]
    leftovers_removed: list[int] = []

    @classmethod
    def of(cls, drift: VmDrift) -> ReconcileResult:
        """The view of one reconcile pass."""
        return cls(**asdict(drift))


class OsInfo(BaseModel):
    """One OS: its template, the nodes that have it, whom to log in as and the smallest disk a VM can have."""

    os: str
    template: str
    nodes: list[str]
    login_user: str
    min_disk_gb: int | None = Field(description="The template's boot disk in GB (null when it cannot be read)")


class OsCatalog(BaseModel):
    """The OS names (``os``, as before), the managed nodes, and per OS its details (``systems``)."""

    os: list[str]
    nodes: list[str]
    systems: list[OsInfo]
    error: dict[str, str] | None = Field(default=None, description="Why nodes and disk sizes are unknown")

    @classmethod
    def of(cls, catalog: Catalog, nodes: list[str]) -> OsCatalog:
        """The view of the OS catalog."""
        systems = [OsInfo(**asdict(system)) for system in catalog.systems]
        return cls(os=[s.os for s in systems], nodes=nodes, systems=systems, error=catalog.error)
