"""Named VM sizes (small, medium, large…): admins define them, ``POST /vm`` takes one instead of cores, memory
and disk. The settings' sizes are seeded on the first start (an empty table); after that the table rules."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cloudfaster.core.errors import ConflictError, NotFoundError, ValidationFailedError
from cloudfaster.db.engine import Database
from cloudfaster.db.errors import is_deadlock
from cloudfaster.db.models import VmSize
from cloudfaster.settings import VmSizeDefault
from cloudfaster.vms import store
from cloudfaster.vms.params import Sizes, VmSpec

log = logging.getLogger("cloudfaster.vms")


@dataclass(frozen=True, slots=True)
class Size:
    """A named size: cores, memory (MB), disk (GB) and a line for people."""

    name: str
    cores: int
    memory: int
    disk: int
    description: str = ""

    @classmethod
    def of(cls, row: VmSize) -> Size:
        """The size a row holds."""
        return cls(row.name, row.cores, row.memory_mb, row.disk_gb, row.description)


async def list_sizes(db: Database) -> list[Size]:
    """Every size, by name."""
    async with db.read() as session:
        return [Size.of(row) for row in await store.all_sizes(session)]


async def put_size(db: Database, size: Size) -> tuple[Size, bool]:
    """Create or replace a size; True when it is new. VMs made from it keep the values they were made with."""
    try:
        async with db.write() as session:
            row, created = await store.put_size(
                session, size.name, cores=size.cores, memory_mb=size.memory, disk_gb=size.disk,
                description=size.description,
            )  # fmt: skip
            return Size.of(row), created
    except IntegrityError as exc:  # two admins created the same new size at once
        raise ConflictError(f"size {size.name!r} was just created by another request", code="size_conflict") from exc


async def delete_size(db: Database, name: str) -> None:
    """Delete a size (404 when there is none); VMs made from it keep their values."""
    async with db.write() as session:
        if not await store.remove_size(session, name):
            raise NotFoundError(f"size {name!r} not found", code="size_not_found")


async def resolve(session: AsyncSession, spec: VmSpec) -> Sizes:
    """The spec's cores, memory and disk: its size's, where not given explicitly.

    An unknown size is a 422 naming the known ones; no size and a missing value is a 422 too.
    """
    base: Size | None = None
    if spec.size is not None:
        row = await store.find_size(session, spec.size)
        if row is None:
            known = [size.name for size in await store.all_sizes(session)]
            raise ValidationFailedError(
                f"unknown size {spec.size!r}; known: {', '.join(known) or 'none (an admin defines them: PUT /sizes)'}",
                code="unknown_size",
                details={"known": known},
            )
        base = Size.of(row)
    cores = spec.cores if spec.cores is not None else (base.cores if base else None)
    memory = spec.memory if spec.memory is not None else (base.memory if base else None)
    disk = spec.disk if spec.disk is not None else (base.disk if base else None)
    if cores is None or memory is None or disk is None:
        missing = [name for name, value in (("cores", cores), ("memory", memory), ("disk", disk)) if value is None]
        raise ValidationFailedError(
            f"give a size (see GET /sizes) or {', '.join(missing)}", code="size_required", details={"missing": missing}
        )
    return Sizes(cores=cores, memory=memory, disk=disk)


async def seed_sizes(db: Database, defaults: dict[str, VmSizeDefault]) -> int:
    """Write the settings' sizes when no size is defined yet (the first start); how many were written."""
    async with db.read() as session:
        if await store.count_sizes(session):
            return 0
    rows = [
        VmSize(name=name, cores=s.cores, memory_mb=s.memory_mb, disk_gb=s.disk_gb, description=s.description)
        for name, s in defaults.items()
    ]
    try:
        async with db.write() as session:
            if await store.count_sizes(session):  # another process seeded them meanwhile
                return 0
            await store.insert_sizes(session, rows)
    except IntegrityError:  # another process seeded them at the same moment
        return 0
    except DBAPIError as exc:  # InnoDB: processes seeding at once deadlock on the same keys; one of them wins
        if not is_deadlock(exc):
            raise
        return 0
    if defaults:
        log.info("VM sizes seeded: %s", ", ".join(defaults))
    return len(defaults)
