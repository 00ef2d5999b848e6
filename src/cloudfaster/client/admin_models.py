"""Typed models of the admin side of the API: users, keys, quotas, audit, IP pools and sizes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cloudfaster.client.models import Model, OperationRef


class Size(Model):
    """A named VM size."""

    name: str
    cores: int
    memory: int
    disk: int
    description: str


class Pool(Model):
    """An IP pool and its usage."""

    name: str
    cidr: str
    gateway: str | None
    dns_servers: list[str]
    search_domain: str | None
    bridge: str
    vlan: int | None
    nodes: list[str]
    excluded: list[str]
    capacity: int
    used: int
    free: int
    addresses: dict[str, int] | None = None
    created_at: datetime
    updated_at: datetime


class User(Model):
    """A registered user."""

    userid: str
    username: str
    created_at: datetime


class QuotaLimits(Model):
    """Per-user limits."""

    max_vms: int
    max_vcpus: int
    max_memory_mb: int
    max_disk_gb: int
    max_services: int
    max_snapshots_per_vm: int
    max_backups: int
    max_backup_gb: int


class QuotaUsage(Model):
    """What the user holds now."""

    vms: int
    vcpus: int
    memory_mb: int
    disk_gb: int
    services: int
    backups: int = 0
    backup_gb: float = 0.0


class Quota(Model):
    """A user's limits and usage."""

    userid: str
    limits: QuotaLimits
    usage: QuotaUsage


class Key(Model):
    """An API key's metadata."""

    prefix: str
    name: str
    admin: bool
    userid: str | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class KeyCreated(Key):
    """A new key: ``key`` is its secret, shown this once."""

    key: str


class BulkError(Model):
    """Why one entry of a bulk call failed."""

    code: str
    message: str
    details: Any = None


class BulkUserResult(Model):
    """One entry of a bulk user registration."""

    userid: str
    outcome: str
    user: User | None = None
    key: KeyCreated | None = None
    error: BulkError | None = None


class UsersBulkResult(Model):
    """What a bulk user registration did."""

    created: int
    existing: int
    failed: int
    results: list[BulkUserResult]


class UserDeletion(Model):
    """A cascading user deletion, running as an operation."""

    userid: str
    operation: OperationRef


class AuditEvent(Model):
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
