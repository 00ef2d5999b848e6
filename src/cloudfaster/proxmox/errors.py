"""Typed Proxmox VE failures, translated from proxmoxer/requests exceptions at the client boundary.

ProxmoxError
├── ProxmoxNodeDownError          595-599, connection failures           temporary
├── ProxmoxAuthFailedError        401/403: the token or its rights       an operator must act
├── ProxmoxTransientError         no quorum, timeouts, 502-504           temporary
│   ├── ProxmoxTaskTimeoutError   a task still running after the timeout
│   └── ProxmoxUnexpectedError    a 5xx nobody knows: retried, never reported as temporary
├── ProxmoxLockedError            `VM is locked (<lock>)`                until the lock holder ends
├── ProxmoxVmMissingError         no config for the VM on that node      permanent
├── ProxmoxAlreadyExistsError     the VMID is taken                      permanent
├── ProxmoxNotRunningError        `VM <vmid> (is) not running`           until someone starts it
├── ProxmoxAgentUnavailableError  no guest agent configured / answering  until the guest runs one
├── ProxmoxRefusedError           bad parameters, impossible in this state
│   └── ProxmoxNoSpiceError       `no spice port`: the VM has no SPICE display
└── ProxmoxTaskFailedError        a task ended `TASK ERROR: <msg>`
"""

from __future__ import annotations

import re

LOCKED_RE = re.compile(r"VM is locked \((?P<lock>[^)]*)\)")
# The VM is not where we looked (AbstractConfig load_config; QemuConfig assert_config_exists_on_node).
MISSING_RE = re.compile(
    r"Configuration file '[^']*qemu-server/\d+\.conf' does not exist|unable to find configuration file for VM \d+"
)
# `VM 101 not running` (power actions, spiceproxy, QMP) and `VM 101 is not running` (the guest agent, Agent.pm).
NOT_RUNNING_RE = re.compile(r"VM \d+ (is )?not running")
# The guest agent cannot answer (QemuServer/Agent.pm assert_agent_available; pve-behaviour-2.md §2).
AGENT_MESSAGES = {"No QEMU guest agent configured": "not_configured", "QEMU guest agent is not running": "not_running"}
# QEMU has no SPICE server for this VM: its display is not qxl (QemuServer.pm spice_port).
NO_SPICE = "no spice port"
# Refusals that retrying cannot fix (notes/pve-behaviour.md §6, §8, §10, §11; pve-behaviour-2.md §3).
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
    "can't remove",
    "balloon value too large",
    "hostname lookup",
    "no such cluster node",
    "snapshot '",
    "does not exist",  # a disk, storage or snapshot (a missing VM config is matched before)
    "shrinking disks is not supported",
    "already running",
    "not implemented",
)
# Failures that go away by themselves: quorum, pmxcfs, timeouts, a port or lock that frees up (pve-cluster,
# pve-common Tools.pm, QMPClient.pm).
TRANSIENT_MARKERS = (
    "no quorum",
    "got timeout",
    "timed out",
    "Timeout while waiting",
    "ipcc_send_rec",
    "cfs-lock",
    "unable to find free port",
    "unable to connect",
    "Connection refused",
    "Connection reset",
    "temporarily unavailable",
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


class ProxmoxUnexpectedError(ProxmoxTransientError):
    """A 5xx whose message CloudFaster does not know: retried like a transient failure, but never reported as one
    (it may well be permanent)."""


class ProxmoxAgentUnavailableError(ProxmoxError):
    """The QEMU guest agent cannot answer: ``reason`` is ``not_configured`` or ``not_running`` (not yet, or never)."""

    @property
    def reason(self) -> str:
        """``not_configured`` (no ``agent`` option) or ``not_running`` (disabled, or the guest has not started it)."""
        return AGENT_MESSAGES.get(self.message, "not_running")


class ProxmoxNoSpiceError(ProxmoxRefusedError):
    """The VM has no SPICE display, so there is no SPICE console to open."""


class ProxmoxTaskFailedError(ProxmoxError):
    """A worker task ended with an error exit status (``TASK ERROR: <msg>``)."""


class ProxmoxTaskTimeoutError(ProxmoxTransientError):
    """A worker task did not stop within the configured time."""


def classify(status: int, message: str, errors: object = None) -> ProxmoxError:
    """The typed error for an HTTP status and PVE's reason phrase (notes/pve-behaviour.md §3).

    A condition that retrying cannot change is never classed as transient; an unknown 5xx is retried but reported
    as what it is, an unexpected upstream error.
    """
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
    if MISSING_RE.search(text):
        return ProxmoxVmMissingError(text, status=status)
    if text in AGENT_MESSAGES:
        return ProxmoxAgentUnavailableError(text, status=status)
    if NOT_RUNNING_RE.search(text):
        return ProxmoxNotRunningError(text, status=status)
    if text == NO_SPICE:
        return ProxmoxNoSpiceError(text, status=status)
    if any(marker in text for marker in REFUSAL_MARKERS):
        return ProxmoxRefusedError(text, status=status)
    if status in (502, 503, 504) or any(marker in text for marker in TRANSIENT_MARKERS):
        return ProxmoxTransientError(text or f"HTTP {status}", status=status)
    if status >= 500 or status == 0:
        return ProxmoxUnexpectedError(text or f"HTTP {status}", status=status)
    return ProxmoxRefusedError(text or f"HTTP {status}", status=status, errors=errors)
