"""Request and response bodies of the named VM sizes."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from cloudfaster.api.schemas.vms import Cores, DiskGb, MemoryMb, SizeName
from cloudfaster.vms.sizes import Size

__all__ = ["SizeName", "SizeRead", "SizeWrite"]


class SizeWrite(BaseModel):
    """A size's values (``PUT /sizes/{name}`` creates or replaces it)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    cores: Cores
    memory: MemoryMb
    disk: DiskGb
    description: Annotated[str, StringConstraints(max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")] = ""


class SizeRead(BaseModel):
    """A named size a VM can be created with."""

    name: str
    cores: int = Field(description="vCPU cores")
    memory: int = Field(description="RAM in MB")
    disk: int = Field(description="Boot disk size in GB")
    description: str

    @classmethod
    def of(cls, size: Size) -> SizeRead:
        """The view of a size."""
        return cls(name=size.name, cores=size.cores, memory=size.memory, disk=size.disk, description=size.description)
