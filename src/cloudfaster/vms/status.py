"""The statuses of a VM record and which status each may be entered from (``store.set_status`` checks it)."""

from __future__ import annotations

from cloudfaster.core.lifecycle import Lifecycle

# creating: reserved and being built · enabled: exists in Proxmox VE · failed: the create gave up
# deleting: being destroyed · deleted: destroyed (or renumbered away), kept for audit
# missing: reconcile did not find it in Proxmox VE
VM_LIFECYCLE = Lifecycle(
    "VM",
    {
        "creating": (),  # only a new row starts here
        "enabled": ("creating", "missing", "deleting"),  # created; found again; a failed delete gives it back
        "failed": ("creating", "deleting"),
        "missing": ("enabled", "deleting"),
        "deleting": ("enabled", "failed", "missing"),
        "deleted": ("deleting", "creating"),  # destroyed; or renumbered during a failover
    },
)
