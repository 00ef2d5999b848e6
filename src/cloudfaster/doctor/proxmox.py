"""The Proxmox VE checks: the API answers, the token holds every privilege CloudFaster uses, each OS template is on
each node with a cloud-init drive and the guest agent, and the VM storage is usable on every node."""

from __future__ import annotations

import re
from typing import Any

from cloudfaster.doctor.report import Check, Status
from cloudfaster.proxmox.client import ProxmoxCluster
from cloudfaster.proxmox.errors import ProxmoxAuthFailedError, ProxmoxError, ProxmoxNodeDownError
from cloudfaster.proxmox.types import GuestInfo
from cloudfaster.settings import ProxmoxSettings

# What CloudFaster calls, and the privilege PVE checks for it (pve-manager / qemu-server API permissions).
VM_PRIVILEGES: dict[str, str] = {
    "VM.Audit": "read VM status, config and the cluster's guests",
    "VM.Clone": "clone a template (on /vms/<template>)",
    "VM.Allocate": "create the new VM (on /vms/<newid>) and destroy it",
    "VM.Config.CPU": "set cores",
    "VM.Config.Memory": "set memory",
    "VM.Config.Disk": "grow the boot disk",
    "VM.Config.Network": "cloud-init network (ipconfig0)",
    "VM.Config.Cloudinit": "cloud-init user and SSH keys",
    "VM.Config.Options": "name and description",
    "VM.PowerMgmt": "start, stop, shutdown, reboot, suspend, resume",
    "VM.Console": "VNC and SPICE consoles",
}
STORAGE_PRIVILEGES: dict[str, str] = {
    "Datastore.AllocateSpace": "disks of cloned and grown VMs",
    "Datastore.Audit": "read the storage's free space",
}
NODE_PRIVILEGES: dict[str, str] = {"Sys.Audit": "node status and load, for placement"}
MIN_FREE_FRACTION = 0.10
_DISK_KEY = re.compile(r"^(ide|sata|scsi|virtio)\d+$")


def required_privileges(storage: str) -> list[tuple[str, str, str]]:
    """(ACL path, privilege, what CloudFaster uses it for), for everything CloudFaster calls."""
    return [
        *(("/vms", priv, why) for priv, why in VM_PRIVILEGES.items()),
        *((f"/storage/{storage}", priv, why) for priv, why in STORAGE_PRIVILEGES.items()),
        *(("/nodes", priv, why) for priv, why in NODE_PRIVILEGES.items()),
    ]


def _held(perms: dict[str, dict[str, int]], path: str) -> dict[str, int]:
    """The privileges on ``path``: its own entry, else its nearest listed parent's propagated ones."""
    probe = path
    while True:
        if probe in perms:
            own = perms[probe]
            return own if probe == path else {priv: 1 for priv, propagate in own.items() if propagate}
        if probe == "/":
            return {}
        probe = probe.rsplit("/", 1)[0] or "/"


def connection_fix(settings: ProxmoxSettings, exc: ProxmoxError) -> str:
    """What to change when the PVE API does not answer as it should."""
    if isinstance(exc, ProxmoxAuthFailedError):
        return f"check CLOUDFASTER_PROXMOX__TOKEN_ID ({settings.token_id}) and __TOKEN_SECRET: `pveum user token list`"
    if isinstance(exc, ProxmoxNodeDownError) or "SSL" in str(exc) or "certificate" in str(exc).lower():
        return "check the node's host and port (8006), the firewall, and __CA_FILE / __VERIFY_SSL for TLS"
    return "see the message; the PVE API must answer GET /version with this token"


async def check_connection(hv: ProxmoxCluster, settings: ProxmoxSettings) -> Check:
    """The API answers with this token."""
    try:
        version = await hv.version()
    except ProxmoxError as exc:
        return Check.failing("proxmox.api", f"Proxmox VE does not answer: {exc}", connection_fix(settings, exc))
    nodes = ", ".join(node.name for node in settings.nodes)
    return Check.ok("proxmox.api", f"Proxmox VE {version.get('version', '?')} answers (nodes {nodes})")


async def check_nodes(hv: ProxmoxCluster, settings: ProxmoxSettings) -> Check:
    """Every configured node is in the cluster and online."""
    found = {node.name: node for node in await hv.nodes()}
    unknown = [node.name for node in settings.nodes if node.name not in found]
    offline = [node.name for node in settings.nodes if node.name in found and not found[node.name].online]
    if unknown:
        return Check.failing(
            "proxmox.nodes", f"not in the cluster: {', '.join(unknown)} (it has {', '.join(sorted(found))})",
            "fix the names in CLOUDFASTER_PROXMOX__NODES: they must be PVE node names",
        )  # fmt: skip
    if offline:
        return Check.warning(
            "proxmox.nodes", f"offline: {', '.join(offline)}", "bring the node back; VMs are placed on the others"
        )
    return Check.ok("proxmox.nodes", f"{len(settings.nodes)} node(s) online")


async def check_permissions(hv: ProxmoxCluster, settings: ProxmoxSettings) -> Check:
    """The token's effective privileges (``GET /access/permissions``) cover everything CloudFaster calls."""
    perms = await hv.permissions()
    missing = [
        (path, priv, why) for path, priv, why in required_privileges(settings.storage) if priv not in _held(perms, path)
    ]
    needed = sorted({priv for _, priv, _ in required_privileges(settings.storage)})
    if not missing:
        return Check.ok("proxmox.permissions", f"the token holds all {len(needed)} privileges CloudFaster uses")
    lines = "; ".join(f"{priv} on {path} ({why})" for path, priv, why in missing)
    token = settings.token_id
    fix = (
        f'pveum role add CloudFaster -privs "{" ".join(needed)}" && '
        f"pveum acl modify / --tokens '{token}' --roles CloudFaster"
        " (a privilege-separated token also needs the same on its user: --users)"
    )
    return Check.failing("proxmox.permissions", f"the token lacks {lines}", fix)


def _cloudinit_drive(config: dict[str, Any]) -> str | None:
    for key, value in config.items():
        if _DISK_KEY.match(key) and "cloudinit" in str(value):
            return key
    return None


def _agent_enabled(config: dict[str, Any]) -> bool:
    value = str(config.get("agent", "0"))
    first = value.split(",", 1)[0]
    return first in ("1", "enabled=1") or "enabled=1" in value.split(",")


async def check_templates(hv: ProxmoxCluster, settings: ProxmoxSettings) -> list[Check]:
    """Each OS's template on each node, with a cloud-init drive (failing without) and the guest agent (warning)."""
    guests = await hv.guests()
    nodes = [node.name for node in settings.nodes]
    checks = []
    for os_name, template in sorted(settings.templates.items()):
        name = f"proxmox.template.{os_name}"
        found: dict[str, GuestInfo] = {
            guest.node: guest for guest in guests if guest.template and guest.name == template and guest.node in nodes
        }
        if not found:
            checks.append(Check.failing(
                name, f"no template named {template!r} on any node",
                f"make one per node: a cloud-init image VM named {template}, then `qm template <vmid>`",
            ))  # fmt: skip
            continue
        no_cloudinit, no_agent = [], []
        for node, guest in sorted(found.items()):
            config = await hv.config(node, guest.vmid)
            if _cloudinit_drive(config) is None:
                no_cloudinit.append(f"{node}/{guest.vmid}")
            if not _agent_enabled(config):
                no_agent.append(f"{node}/{guest.vmid}")
        absent = [node for node in nodes if node not in found]
        on = ", ".join(f"{node}/{guest.vmid}" for node, guest in sorted(found.items()))
        if no_cloudinit:
            checks.append(Check.failing(
                name, f"{template} has no cloud-init drive on {', '.join(no_cloudinit)}: SSH keys would not reach VMs",
                "qm set <vmid> --ide2 <storage>:cloudinit",
            ))  # fmt: skip
        elif no_agent:
            checks.append(Check.warning(
                name, f"{template} has the guest agent off on {', '.join(no_agent)}: no addresses from the agent",
                "qm set <vmid> --agent enabled=1 (and install qemu-guest-agent in the image)",
            ))  # fmt: skip
        elif absent:
            checks.append(Check.warning(
                name, f"{template} on {on}; missing on {', '.join(absent)}: {os_name} VMs go to the other nodes",
                f"clone or copy the template to {', '.join(absent)}",
            ))  # fmt: skip
        else:
            checks.append(Check.ok(name, f"{template} on every node ({on}), cloud-init drive and guest agent"))
    return checks


async def check_storage(hv: ProxmoxCluster, settings: ProxmoxSettings) -> Check:
    """The configured VM storage is on every node, active, enabled, holds disk images and has room."""
    storage = settings.storage
    bad: list[str] = []
    low: list[str] = []
    fine: list[str] = []
    for node in settings.nodes:
        rows = {row.get("storage"): row for row in await hv.storages(node.name)}
        row = rows.get(storage)
        if row is None:
            bad.append(f"{node.name}: not there (has {', '.join(sorted(str(r) for r in rows))})")
        elif not int(row.get("active", 0)) or not int(row.get("enabled", 1)):
            bad.append(f"{node.name}: not active or disabled")
        elif "images" not in str(row.get("content", "")).split(","):
            bad.append(f"{node.name}: does not hold disk images (content {row.get('content')})")
        else:
            total, avail = int(row.get("total") or 0), int(row.get("avail") or 0)
            gib = avail // 1024**3
            (low if total and avail < MIN_FREE_FRACTION * total else fine).append(f"{node.name}: {gib} GiB free")
    name = f"proxmox.storage.{storage}"
    if bad:
        return Check.failing(
            name, "; ".join(bad),
            "set CLOUDFASTER_PROXMOX__STORAGE to a storage with content 'images' on every node (pvesm status)",
        )  # fmt: skip
    if low:
        return Check.warning(name, "; ".join(low + fine), "free space: under 10% left")
    return Check.ok(name, "; ".join(fine))


async def proxmox_checks(hv: ProxmoxCluster, settings: ProxmoxSettings) -> list[Check]:
    """Every Proxmox VE check; after a failed connection, only that one."""
    connection = await check_connection(hv, settings)
    if connection.status == Status.FAILING:
        return [connection]
    checks = [connection]
    for name, step in (("proxmox.nodes", check_nodes), ("proxmox.permissions", check_permissions),
                       ("proxmox.storage", check_storage)):  # fmt: skip
        try:
            checks.append(await step(hv, settings))
        except ProxmoxError as exc:
            checks.append(Check.failing(name, f"cannot read it: {exc}", connection_fix(settings, exc)))
    try:
        checks += await check_templates(hv, settings)
    except ProxmoxError as exc:
        checks.append(Check.failing("proxmox.templates", f"cannot read them: {exc}", connection_fix(settings, exc)))
    return checks
