"""Proxmox failures translated for clients (AppError) and for the runner (retry or fail)."""

from __future__ import annotations

from cloudfaster.core.errors import AppError, ConflictError, UpstreamUnavailableError
from cloudfaster.core.runner.kinds import OperationFailedError, RetryableError
from cloudfaster.proxmox.errors import (
    ProxmoxAuthFailedError,
    ProxmoxError,
    ProxmoxLockedError,
    ProxmoxNodeDownError,
    ProxmoxNotRunningError,
    ProxmoxTransientError,
    ProxmoxVmMissingError,
)


def app_error(exc: ProxmoxError, *, node: str | None = None) -> AppError:
    """The client-facing error for a Proxmox failure: never a bare 500."""
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
        return UpstreamUnavailableError(
            "Proxmox VE refused CloudFaster's API token; an operator must fix the credentials",
            code="proxmox_auth_failed",
            headers={"Retry-After": "60"},
        )
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
    return ConflictError(f"Proxmox VE refused the request{where}: {exc.message}", code="proxmox_refused")


def op_error(exc: ProxmoxError) -> Exception:
    """What an operation kind raises for a Proxmox failure: retry later, or fail for good."""
    if isinstance(exc, ProxmoxTransientError | ProxmoxNodeDownError | ProxmoxAuthFailedError | ProxmoxLockedError):
        return RetryableError(f"Proxmox VE: {exc.message}", code=type(exc).__name__.removeprefix("Proxmox").lower())
    return OperationFailedError(f"Proxmox VE: {exc.message}", code="proxmox_refused")
