"""Proxmox failures translated for clients (AppError) and for the runner (retry or fail).

Only what can pass by itself is a 503 with ``Retry-After`` (a node down, no quorum, a timeout); a condition a retry
cannot change is a 409 (the VM's state: missing, not running, no SPICE display, refused) or a 502 (Proxmox VE
refused CloudFaster's token, or failed in a way nobody knows), never "try again".
"""

from __future__ import annotations

from cloudfaster.core.errors import AppError, ConflictError, UpstreamUnavailableError
from cloudfaster.core.runner.kinds import OperationFailedError, RetryableError
from cloudfaster.db.models import ProxmoxVM
from cloudfaster.proxmox.errors import (
    ProxmoxAgentUnavailableError,
    ProxmoxAuthFailedError,
    ProxmoxError,
    ProxmoxLockedError,
    ProxmoxNodeDownError,
    ProxmoxNoSpiceError,
    ProxmoxNotRunningError,
    ProxmoxTransientError,
    ProxmoxUnexpectedError,
    ProxmoxVmMissingError,
)


class UpstreamFailedError(AppError):
    """Proxmox VE answered, but with a failure CloudFaster cannot pass off as temporary."""

    status_code = 502
    code = "proxmox_error"


# Statuses in which a VM is being changed by an operation.
BUSY = ("creating", "deleting", "rebuilding", "restoring")


def app_error(exc: ProxmoxError, *, node: str | None = None) -> AppError:
    """The client-facing error for a Proxmox failure: never a bare 500, and 503 only for what passes by itself."""
    where = f" (node {node})" if node else ""
    if isinstance(exc, ProxmoxLockedError):
        return ConflictError(
            f"the VM is locked in Proxmox VE ({exc.lock or 'busy'}); try again shortly", code="vm_locked"
        )
    if isinstance(exc, ProxmoxNodeDownError):
        return UpstreamUnavailableError(
            f"the Proxmox VE node is unreachable{where}: {exc.message}",
            code="proxmox_node_down",
            headers={"Retry-After": "10"},
        )
    if isinstance(exc, ProxmoxAuthFailedError):
        return UpstreamFailedError(
            "Proxmox VE refused CloudFaster's API token; an operator must fix the credentials or their permissions",
            code="proxmox_auth_failed",
        )
    if isinstance(exc, ProxmoxUnexpectedError):
        return UpstreamFailedError(f"Proxmox VE failed{where}: {exc.message}")
    if isinstance(exc, ProxmoxTransientError):
        return UpstreamUnavailableError(
            f"Proxmox VE is temporarily unavailable{where}: {exc.message}",
            code="proxmox_unavailable",
            headers={"Retry-After": "5"},
        )
    if isinstance(exc, ProxmoxVmMissingError):
        return ConflictError(f"the VM does not exist in Proxmox VE{where}", code="vm_missing")
    if isinstance(exc, ProxmoxNotRunningError):
        return ConflictError("the VM is not running", code="vm_not_running")
    if isinstance(exc, ProxmoxNoSpiceError):
        return ConflictError(
            "the VM has no SPICE display (its vga is not qxl); use the VNC console", code="spice_not_available"
        )
    if isinstance(exc, ProxmoxAgentUnavailableError):
        return ConflictError(f"the QEMU guest agent cannot answer: {exc.message}", code=f"agent_{exc.reason}")
    return ConflictError(f"Proxmox VE refused the request{where}: {exc.message}", code="proxmox_refused")


def op_error(exc: ProxmoxError) -> Exception:
    """What an operation kind raises for a Proxmox failure: retry later, or fail for good."""
    if isinstance(exc, ProxmoxTransientError | ProxmoxNodeDownError | ProxmoxAuthFailedError | ProxmoxLockedError):
        return RetryableError(f"Proxmox VE: {exc.message}", code=type(exc).__name__.removeprefix("Proxmox").lower())
    return OperationFailedError(f"Proxmox VE: {exc.message}", code="proxmox_refused")


def check_unprotected(vm: ProxmoxVM, what: str) -> None:
    """409 ``vm_protected`` while the VM's delete protection is on."""
    if vm.protected:
        raise ConflictError(
            f"VM {vm.vmid} is protected and cannot be {what}; turn protection off first", code="vm_protected"
        )


def require_usable(vm: ProxmoxVM) -> str:
    """The node of an enabled VM; 409 while it is busy or not enabled."""
    if vm.status in BUSY:
        raise ConflictError(f"VM {vm.vmid} is {vm.status}", code="operation_in_progress")
    if vm.status != "enabled" or vm.node is None:
        raise ConflictError(f"VM {vm.vmid} is {vm.status}; only an enabled VM can do this", code="vm_not_enabled")
    return vm.node
