"""The statuses of a VM record and of a backup, and which status each may be entered from (the store's status
writers check them)."""

from __future__ import annotations

from cloudfaster.core.lifecycle import Lifecycle

# creating: reserved and being built · enabled: exists in Proxmox VE · failed: the create gave up
# deleting: being destroyed · deleted: destroyed (or renumbered away), kept for audit
# missing: reconcile did not find it in Proxmox VE
# rebuilding: reinstalled from its OS template · restoring: overwritten by one of its backups
VM_LIFECYCLE = Lifecycle(
    "VM",
    {
        "creating": (),  # only a new row starts here
        # created; found again; a failed delete gives it back; rebuilt; restored
        "enabled": ("creating", "missing", "deleting", "rebuilding", "restoring"),
        "failed": ("creating", "deleting", "rebuilding", "restoring"),
        "missing": ("enabled", "deleting"),
        "deleting": ("enabled", "failed", "missing"),
        "deleted": ("deleting", "creating"),  # destroyed; or renumbered during a failover
        "rebuilding": ("enabled",),
        "restoring": ("enabled", "failed"),  # a failed VM can be brought back from a backup
    },
)

# creating: vzdump runs · available: the archive exists · failed: no archive was made
# deleting: the archive is being removed · deleted: removed (the row stays for audit)
BACKUP_LIFECYCLE = Lifecycle(
    "backup",
    {
        "creating": (),
        "available": ("creating", "deleting"),  # written; a failed delete gives it back
        "failed": ("creating",),
        "deleting": ("available",),
        "deleted": ("deleting",),
    },
)
