"""Request and response bodies of the core API (users, keys, quotas, operations, audit)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StringConstraints

T = TypeVar("T")

UserId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
# No control characters (C0, DEL, C1, line and paragraph separators): names end up in logs, files and terminals.
PRINTABLE = r"^[^\x00-\x1f\x7f-\x9f\u2028\u2029]*$"
_NUMBER = re.compile(r"^\s*[-+]?[0-9.eE+-]+\s*$")


def _iso_only(value: Any) -> Any:
    # pydantic would read a number (or a numeric string) as a Unix timestamp, negative ones included.
    if isinstance(value, datetime) or (isinstance(value, str) and not _NUMBER.match(value)):
        return value
    raise ValueError("give an ISO 8601 timestamp with a time zone, such as 2026-01-31T12:00:00Z")


IsoTimestamp = Annotated[AwareDatetime, BeforeValidator(_iso_only)]


class Page(BaseModel, Generic[T]):
    """One page of a list; pass ``next_cursor`` as ``cursor`` to get the next."""

    items: list[T]
    next_cursor: str | None = None


class ORMModel(BaseModel):
    """A response model read from ORM attributes."""

    model_config = ConfigDict(from_attributes=True)


class UserCreate(BaseModel):
    """Register a user."""

    model_config = ConfigDict(extra="forbid", strict=True)

    userid: UserId = Field(description="Unique id: letters, digits, '.', '_', '-'; at most 64 characters")
    username: Annotated[
        str, StringConstraints(min_length=1, max_length=128, strip_whitespace=True, pattern=PRINTABLE)
    ] = Field(description="A display name, without control characters")


class UserRead(ORMModel):
    """A registered user."""

    userid: str
    username: str
    created_at: datetime


class QuotaLimits(BaseModel):
    """Per-user limits."""

    max_vms: int
    max_vcpus: int
    max_memory_mb: int
    max_disk_gb: int
    max_services: int
    max_snapshots_per_vm: int
    max_backups: int
    max_backup_gb: int


class QuotaUsage(BaseModel):
    """What the user holds now."""

    vms: int
    vcpus: int
    memory_mb: int
    disk_gb: int
    services: int
    backups: int = 0
    backup_gb: float = 0.0


class QuotaRead(BaseModel):
    """A user's limits and current usage."""

    userid: str
    limits: QuotaLimits
    usage: QuotaUsage


NonNegative = Annotated[int, Field(ge=0, le=10_000_000)]


class QuotaUpdate(BaseModel):
    """New limits; a field set to null goes back to the default, a field left out stays as it is."""

    model_config = ConfigDict(extra="forbid", strict=True)

    max_vms: NonNegative | None = None
    max_vcpus: NonNegative | None = None
    max_memory_mb: NonNegative | None = None
    max_disk_gb: NonNegative | None = None
    max_services: NonNegative | None = None
    max_snapshots_per_vm: NonNegative | None = None
    max_backups: NonNegative | None = None
    max_backup_gb: NonNegative | None = None


class KeyCreate(BaseModel):
    """Create an API key: an admin key, or one for a user."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(max_length=128, pattern=PRINTABLE)] = ""
    userid: UserId | None = Field(default=None, description="The user the key acts as; omit with admin=true")
    admin: StrictBool = False
    expires_at: IsoTimestamp | None = Field(default=None, description="Optional expiry, ISO 8601 with a time zone")


class KeyRead(BaseModel):
    """An API key's metadata; the secret is never shown again."""

    prefix: str
    name: str
    admin: bool
    userid: str | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class KeyCreated(KeyRead):
    """A new key: ``key`` is its secret, shown this once."""

    key: str


class OperationStep(BaseModel):
    """One step of an operation."""

    model_config = ConfigDict(extra="allow")

    name: str
    state: str
    started_at: str | None = None
    finished_at: str | None = None
    detail: str | None = None
    attempt: int | None = None


class OperationRead(ORMModel):
    """The state of a slow piece of work."""

    id: str
    kind: str
    target_type: str
    target_id: str
    state: str
    attempt: int
    steps: list[OperationStep]
    result: dict[str, Any] | None
    error: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


class AuditEventRead(ORMModel):
    """One audited call."""

    id: int
    at: datetime
    actor_key: str | None
    actor_userid: str | None
    is_admin: bool
    method: str
    path: str
    action: str
    target: str | None
    status_code: int
    result: str
    request_id: str | None
