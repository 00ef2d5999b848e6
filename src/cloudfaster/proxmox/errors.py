"""Typed Proxmox VE failures, translated from proxmoxer/requests exceptions at the client boundary."""

from __future__ import annotations

import re

LOCKED_RE = re.compile(r"VM is locked \((?P<lock>[^)]*)\)")
# Messages that mean the VM is not where we looked (AbstractConfig load_config; QemuConfig check_running).
MISSING_MARKERS = ("does not exist", "unable to find configuration file")
# Pre-fork refusals that retrying cannot fix (notes/pve-behaviour.md §6, §8, §10, §11).
REFUSAL_MARKERS = (
    "is running - destroy failed",
    "cannot shutdown",
    "SSH public key validation error",
    "no options specified",
    "protection mode enabled",
    "not allowed for linked clones",
    "Linked clone feature",
    "Full clone feature",
    "you can't",
    "can't clone",
    "balloon value too large",
    "hostname lookup",
    "no such cluster node",
    "snapshot '",
)


class ProxmoxError(Exception):
    """A Proxmox VE call failed; ``status`` is the HTTP status (0 for no answer)."""

    def __init__(self, message: str, *, status: int = 0, errors: object = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.errors = errors


class ProxmoxNodeDownError(ProxmoxError):
    """The node (or every API host) cannot be reached: 595-599 or a connection failure."""


class ProxmoxAuthFailedError(ProxmoxError):
    """The API token was refused (401) or lacks permissions (403)."""


class ProxmoxTransientError(ProxmoxError):
    """A failure that is worth retrying later (5xx without a known meaning, no quorum, timeouts)."""


class ProxmoxLockedError(ProxmoxError):
    """The VM holds a config lock (``VM is locked (clone)``)."""

    @property
    def lock(self) -> str:
        """The lock's name, e.g. ``clone``."""
        match = LOCKED_RE.search(self.message)
        return match.group("lock") if match else ""


class ProxmoxVmMissingError(ProxmoxError):
    """The VM's config does not exist on that node."""


class ProxmoxAlreadyExistsError(ProxmoxError):
    """A VMID is taken (clone onto an existing id, or ``nextid?vmid=N`` refused)."""


class ProxmoxNotRunningError(ProxmoxError):
    """The VM must be running for this (``VM 101 not running``)."""


class ProxmoxRefusedError(ProxmoxError):
    """Proxmox refused the request for a reason that retrying will not change (bad parameter, bad state)."""


class ProxmoxTaskFailedError(ProxmoxError):
    """A worker task ended with an error exit status (``TASK ERROR: <msg>``)."""


class ProxmoxTaskTimeoutError(ProxmoxTransientError):
    """A worker task did not stop within the configured time."""


def classify(status: int, message: str, errors: object = None) -> ProxmoxError:
    """The typed error for an HTTP status and PVE's reason phrase (notes/pve-behaviour.md §3)."""
    text = message.strip()
    if 595 <= status <= 599:
        return ProxmoxNodeDownError(text or "node unreachable", status=status)
    if status in (401, 403):
        return ProxmoxAuthFailedError(text or "authentication failed", status=status)
    if status == 400:
        if errors and "already exists" in str(errors):
            return ProxmoxAlreadyExistsError(f"{text} {errors}", status=status, errors=errors)
        return ProxmoxRefusedError(f"{text} {errors or ''}".strip(), status=status, errors=errors)
    if LOCKED_RE.search(text) or "can't lock file" in text:
        return ProxmoxLockedError(text, status=status)
    if "already exists" in text:
        return ProxmoxAlreadyExistsError(text, status=status)
    if any(marker in text for marker in MISSING_MARKERS):
        return ProxmoxVmMissingError(text, status=status)
    if re.search(r"VM \d+ not running", text):
        return ProxmoxNotRunningError(text, status=status)
    if any(marker in text for marker in REFUSAL_MARKERS):
        return ProxmoxRefusedError(text, status=status)
    if status >= 500 or status == 0:
        return ProxmoxTransientError(text or f"HTTP {status}", status=status)
    return ProxmoxRefusedError(text or f"HTTP {status}", status=status, errors=errors)
