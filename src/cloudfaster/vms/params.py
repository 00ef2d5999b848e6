"""What the VM service takes and what each VM operation kind stores as its params (one pydantic model each)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

PowerAction = Literal["start", "stop", "shutdown", "reboot", "suspend", "resume"]


class VmSpec(BaseModel):
    """A VM to create (the API's ``VMCreate`` is this, with its input checks): a named size, explicit values, or
    both (explicit values override the size's)."""

    userid: str | None = None
    name: str
    os: str
    size: str | None = None
    cores: int | None = None
    memory: int | None = None  # MB
    disk: int | None = None  # GB
    sshkeys: list[str]
    node: str | None = None


class Resources(BaseModel):
    """New sizes for a VM; a field left out (None) stays as it is (the API's ``VMUpdate`` is this)."""

    cores: int | None = None
    memory: int | None = None
    disk: int | None = None


class PowerOptions(BaseModel):
    """Options of a power action (only ``shutdown`` uses them)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    timeout: int | None = Field(default=None, ge=1, le=3600, description="Seconds to wait for a clean shutdown")
    force: bool = Field(default=False, description="Hard-stop when the clean shutdown times out")


class Sizes(BaseModel):
    """A VM's cores, memory (MB) and disk (GB)."""

    cores: int
    memory: int
    disk: int


class RestoreSource(BaseModel):
    """A backup archive a new VM is restored from instead of cloned from its OS template."""

    backup_id: int
    volid: str
    node: str  # where the archive was written
    storage: str
    shared: bool  # whether every node sees the storage (else the VM must be made on ``node``)


class CreateParams(VmSpec):
    """``vm.create``: the request with its size resolved, its owner and the VMID reserved for it (and the backup,
    for a restore)."""

    userid: str
    cores: int
    memory: int
    disk: int
    vmid: int
    restore: RestoreSource | None = None


class ResizeParams(BaseModel):
    """``vm.resize``: the changed sizes only, and the old ones to restore on failure."""

    vmid: int
    node: str
    new: Resources
    old: Sizes


class PowerParams(BaseModel):
    """``vm.power``: one action on a VM on a node."""

    vmid: int
    node: str
    action: PowerAction
    options: PowerOptions = Field(default_factory=PowerOptions)


class DeleteParams(BaseModel):
    """``vm.delete``: the VM, where it is (None: never placed) and the status to give back if deleting fails."""

    vmid: int
    node: str | None
    previous_status: str = "enabled"


class SnapshotParams(BaseModel):
    """``vm.snapshot``: take a snapshot (with RAM state when ``vmstate``)."""

    vmid: int
    node: str
    name: str
    description: str = ""
    vmstate: bool = False
    since: int  # epoch seconds of the request: a resumed attempt looks for its task from then on


class SnapshotDeleteParams(BaseModel):
    """``vm.snapshot_delete``: delete one snapshot."""

    vmid: int
    node: str
    name: str
    since: int


class RollbackParams(BaseModel):
    """``vm.rollback``: return to a snapshot; ``start`` starts a VM left stopped by a snapshot without RAM."""

    vmid: int
    node: str
    name: str
    start: bool = False
    since: int


class BackupParams(BaseModel):
    """``vm.backup``: one vzdump of a VM into the backup row made with the request."""

    vmid: int
    node: str
    backup_id: int
    storage: str
    mode: str
    since: int
    retention: int | None = None  # scheduled backups: how many of the VM's scheduled backups to keep


class BackupDeleteParams(BaseModel):
    """``backup.delete``: remove a backup's archive."""

    backup_id: int
    node: str
    storage: str
    volid: str


class OverwriteParams(BaseModel):
    """``vm.restore``: overwrite a VM with one of its backups (its sizes become the backup's)."""

    vmid: int
    node: str
    backup_id: int
    volid: str
    old: Sizes
    was_running: bool
    previous_status: str
    since: int


class RebuildParams(BaseModel):
    """``vm.rebuild``: reinstall a VM from an OS template, keeping VMID, node and network identity."""

    vmid: int
    node: str
    os: str
    template: str  # the template's VM name
    sshkeys: list[str]
    disk: int  # GB
    old_os: str
    old_sshkeys: list[str]
    since: int
