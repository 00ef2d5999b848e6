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


class CreateParams(VmSpec):
    """``vm.create``: the request with its size resolved, its owner and the VMID reserved for it."""

    userid: str
    cores: int
    memory: int
    disk: int
    vmid: int


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
