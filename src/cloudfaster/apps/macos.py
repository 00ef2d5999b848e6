"""macOS (Docker-OSX) needs KVM on the host: checks that say clearly why it cannot run here."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cloudfaster.apps.errors import MacosUnavailableError


@dataclass(frozen=True)
class KvmStatus:
    """Whether the KVM device is usable, why not, and the group that owns it (for ``group_add``)."""

    available: bool
    reason: str
    gid: int | None = None


def check_kvm(device: Path = Path("/dev/kvm")) -> KvmStatus:
    """Look for the KVM character device that Docker-OSX's QEMU needs (sickcodes/Docker-OSX README)."""
    try:
        info = os.stat(device)
    except FileNotFoundError:
        return KvmStatus(
            False,
            f"{device} is missing: macOS services need an x86_64 host with hardware virtualisation "
            "(VT-x/AMD-V, nested on a cloud VM) and the kvm module loaded",
        )
    except OSError as exc:
        return KvmStatus(False, f"{device} cannot be inspected: {exc.strerror}")
    if not stat.S_ISCHR(info.st_mode):
        return KvmStatus(False, f"{device} exists but is not a character device")
    return KvmStatus(True, f"{device} is available", gid=info.st_gid)


def ensure_macos_available(enabled: bool, device: Path) -> KvmStatus:
    """Raise ``MacosUnavailableError`` unless macOS is enabled by an admin and KVM is present."""
    if not enabled:
        raise MacosUnavailableError(
            "macOS services are disabled on this server (an admin can enable CLOUDFASTER_DOCKER__MACOS_ENABLED)",
            code="macos_disabled",
        )
    status = check_kvm(device)
    if not status.available:
        raise MacosUnavailableError(status.reason, code="kvm_unavailable")
    return status
