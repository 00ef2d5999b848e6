"""Proxmox failures translated for clients (AppError) and for the runner (retry or fail)."""

from __future__ import annotations

from cloudfaster.errors import AppError, Conflict, UpstreamUnavailable
from cloudfaster.proxmox.errors import (
    ProxmoxAuthFailed,
    ProxmoxError,
    ProxmoxLocked,
    ProxmoxNodeDown,
    ProxmoxNotRunning,
    ProxmoxTransient,
    ProxmoxVmMissing,
)
from cloudfaster.runner.kinds import OperationFailed, RetryableError


def app_error(exc: ProxmoxError, *, node: str | None = None) -> AppError:
    """The client-facing error for a Proxmox failure: never a bare 500."""
    where = f" (node {node})" if node else ""
    if isinstance(exc, ProxmoxLocked):
        return Conflict(f"the VM is locked in Proxmox VE ({exc.lock or 'busy'}); try again shortly", code="vm_locked")
    if isinstance(exc, ProxmoxNodeDown):
        return UpstreamUnavailable(
            f"the Proxmox VE node is unreachable{where}: {exc.message}",
            code="proxmox_node_down",
            headers={"Retry-After": "10"},
        )
    if isinstance(exc, ProxmoxAuthFailed):
        return UpstreamUnavailable(
            "Proxmox VE refused CloudFaster's API token; an operator must fix the credentials",
            code="proxmox_auth_failed",
            headers={"Retry-After": "60"},
        )
    if isinstance(exc, ProxmoxTransient):
        return UpstreamUnavailable(
            f"Proxmox VE is temporarily unavailable{where}: {exc.message}",
            code="proxmox_unavailable",
            headers={"Retry-After": "5"},
        )
    if isinstance(exc, ProxmoxVmMissing):
        return Conflict(f"the VM does not exist in Proxmox VE{where}", code="vm_missing")
    if isinstance(exc, ProxmoxNotRunning):
        return Conflict("the VM is not running", code="vm_not_running")
    return Conflict(f"Proxmox VE refused the request{where}: {exc.message}", code="proxmox_refused")


def op_error(exc: ProxmoxError) -> Exception:
    """What an operation kind raises for a Proxmox failure: retry later, or fail for good."""
    if isinstance(exc, ProxmoxTransient | ProxmoxNodeDown | ProxmoxAuthFailed | ProxmoxLocked):
        return RetryableError(f"Proxmox VE: {exc.message}", code=type(exc).__name__.removeprefix("Proxmox").lower())
    return OperationFailed(f"Proxmox VE: {exc.message}", code="proxmox_refused")
