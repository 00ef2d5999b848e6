"""The tables: users, API keys, VMs with their backups and backup schedules, services and their deployments,
operations, audit events, IP pools and addresses, VM sizes, console tickets, the custom domains of services and
dashboard sessions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cloudfaster.db.base import Base, utcnow

# MySQL wants a length on every indexed VARCHAR; these are the widths used throughout.
ID_LEN = 64
NAME_LEN = 128


class User(Base):
    """A tenant: owns VMs and services. Quota columns left NULL fall back to the configured defaults."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    userid: Mapped[str] = mapped_column(String(ID_LEN), unique=True)
    username: Mapped[str] = mapped_column(String(NAME_LEN))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    max_vms: Mapped[int | None] = mapped_column(Integer, default=None)
    max_vcpus: Mapped[int | None] = mapped_column(Integer, default=None)
    max_memory_mb: Mapped[int | None] = mapped_column(Integer, default=None)
    max_disk_gb: Mapped[int | None] = mapped_column(Integer, default=None)
    max_services: Mapped[int | None] = mapped_column(Integer, default=None)
    max_snapshots_per_vm: Mapped[int | None] = mapped_column(Integer, default=None)
    max_backups: Mapped[int | None] = mapped_column(Integer, default=None)
    max_backup_gb: Mapped[int | None] = mapped_column(Integer, default=None)

    api_keys: Mapped[list[ApiKey]] = relationship(back_populates="user", cascade="all, delete-orphan")


class ApiKey(Base):
    """An API key: admin (no user) or bound to one user. Only a hash of the secret is stored."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(NAME_LEN), default="")
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)

    user: Mapped[User | None] = relationship(back_populates="api_keys")


class ProxmoxVM(Base):
    """A VM on Proxmox VE. Kept with status ``deleted`` after destruction, for audit."""

    __tablename__ = "proxmox_vms"
    __table_args__ = (UniqueConstraint("user_id", "active_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    vmid: Mapped[int] = mapped_column(Integer, unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    name: Mapped[str] = mapped_column(String(NAME_LEN))
    # Equal to ``name`` while the VM exists, NULL once it is deleted: the unique (user_id, active_name) makes
    # names unique per owner on every engine while deleted rows keep theirs (NULLs are distinct in UNIQUE).
    active_name: Mapped[str | None] = mapped_column(String(NAME_LEN), default=None)
    os: Mapped[str] = mapped_column(String(ID_LEN))
    cores: Mapped[int] = mapped_column(Integer)
    memory_mb: Mapped[int] = mapped_column(Integer)
    disk_gb: Mapped[int] = mapped_column(Integer)
    sshkeys: Mapped[str] = mapped_column(Text)
    node: Mapped[str | None] = mapped_column(String(ID_LEN), default=None)
    status: Mapped[str] = mapped_column(String(32), index=True)
    status_detail: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    # Delete protection: while set, delete and rebuild are refused (409 vm_protected).
    protected: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)


class VmBackup(Base):
    """A vzdump archive of a VM, owned by the VM's user; it outlives the VM (restore into a new one).

    The VM's sizes at backup time are kept: a restore creates a VM of that size.
    """

    __tablename__ = "vm_backups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    vmid: Mapped[int] = mapped_column(Integer, index=True)
    name: Mapped[str] = mapped_column(String(NAME_LEN))
    os: Mapped[str] = mapped_column(String(ID_LEN))
    cores: Mapped[int] = mapped_column(Integer)
    memory_mb: Mapped[int] = mapped_column(Integer)
    disk_gb: Mapped[int] = mapped_column(Integer)
    sshkeys: Mapped[str] = mapped_column(Text)
    node: Mapped[str] = mapped_column(String(ID_LEN))
    storage: Mapped[str] = mapped_column(String(ID_LEN))
    # The archive's volid, set once vzdump has written it (NULL while it is being made).
    volid: Mapped[str | None] = mapped_column(String(255), unique=True, default=None)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger, default=None)
    mode: Mapped[str] = mapped_column(String(16), default="snapshot")
    scheduled: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), index=True)
    status_detail: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)


class BackupSchedule(Base):
    """A VM's backup schedule: daily or weekly in a UTC time window, keeping the last ``retention`` scheduled
    backups. ``next_run_at`` is the start of the next window; a worker claims it with a compare-and-set."""

    __tablename__ = "vm_backup_schedules"

    vmid: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    frequency: Mapped[str] = mapped_column(String(16))
    weekday: Mapped[int | None] = mapped_column(Integer, default=None)  # 0 = Monday, weekly only
    window_start_minute: Mapped[int] = mapped_column(Integer)  # minutes after 00:00 UTC
    window_minutes: Mapped[int] = mapped_column(Integer)
    retention: Mapped[int] = mapped_column(Integer)
    next_run_at: Mapped[datetime] = mapped_column(index=True)
    last_run_at: Mapped[datetime | None] = mapped_column(default=None)
    last_backup_id: Mapped[int | None] = mapped_column(Integer, default=None)
    last_error: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class DockerService(Base):
    """A Docker Compose service (one compose project). Kept with status ``deleted`` after removal."""

    __tablename__ = "docker_services"
    __table_args__ = (UniqueConstraint("user_id", "active_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    service_name: Mapped[str] = mapped_column(String(ID_LEN))
    # ``service_name`` while the service exists, NULL once deleted (see ProxmoxVM.active_name).
    active_name: Mapped[str | None] = mapped_column(String(ID_LEN), default=None)
    service_types: Mapped[list[Any]] = mapped_column()
    source_type: Mapped[str] = mapped_column(String(16), default="none")
    source_ref: Mapped[str | None] = mapped_column(Text, default=None)
    status: Mapped[str] = mapped_column(String(32), index=True)
    status_detail: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    ports: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    urls: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    filebrowser_user: Mapped[str | None] = mapped_column(String(ID_LEN), default=None)
    # The user's environment variables: {name: {"value": ..., "secret": bool}}; secret values are never shown.
    env: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    # The push webhook: SHA-256 of the secret URL's token (looked up), and the HMAC secret GitHub and Gitea sign
    # with (kept as is: an HMAC cannot be checked against a hash of its key).
    webhook_token_hash: Mapped[str | None] = mapped_column(String(ID_LEN), unique=True, default=None)
    webhook_secret: Mapped[str | None] = mapped_column(String(ID_LEN), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)


class ServiceDeployment(Base):
    """One deploy of a service: its source, when it ran, how it ended and its output. The newest ``kept`` ones
    have their source tree under the service's ``deployments/<number>/`` and can be rolled back to."""

    __tablename__ = "service_deployments"
    __table_args__ = (UniqueConstraint("service_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("docker_services.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)  # 1, 2, ... per service
    operation_id: Mapped[str] = mapped_column(String(36), unique=True)
    source_type: Mapped[str] = mapped_column(String(16))
    source_ref: Mapped[str | None] = mapped_column(Text, default=None)
    # The ZIP's SHA-256 or the git commit.
    source_digest: Mapped[str | None] = mapped_column(String(ID_LEN), default=None)
    rollback_of: Mapped[int | None] = mapped_column(Integer, default=None)
    state: Mapped[str] = mapped_column(String(16))  # running, succeeded, failed
    output: Mapped[str | None] = mapped_column(Text, default=None)
    kept: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class ServicePort(Base):
    """A host port reserved for one service; the primary key makes double allocation impossible."""

    __tablename__ = "service_ports"

    port: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    service_id: Mapped[int] = mapped_column(ForeignKey("docker_services.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(ID_LEN))


class Operation(Base):
    """A unit of slow work. The row is the source of truth: lease, fencing attempt, checkpoints, result."""

    __tablename__ = "operations"
    __table_args__ = (
        UniqueConstraint("owner_userid", "idempotency_key"),
        Index("ix_operations_state_lease", "state", "lease_expires_at"),
        Index("ix_operations_state_not_before", "state", "not_before"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(ID_LEN))
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[str] = mapped_column(String(ID_LEN))
    # Equal to "<target_type>:<target_id>" while the operation is active, NULL once it ends; the unique
    # index allows one active operation per resource on every engine (NULLs are distinct in UNIQUE).
    active_target: Mapped[str | None] = mapped_column(String(100), unique=True, default=None)
    owner_userid: Mapped[str] = mapped_column(String(ID_LEN), index=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), default=None)
    request_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    steps: Mapped[list[Any]] = mapped_column(default=list)
    checkpoints: Mapped[dict[str, Any]] = mapped_column(default=dict)
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(200), default=None)
    lease_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    not_before: Mapped[datetime] = mapped_column(default=utcnow)
    result: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    error: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class AuditEvent(Base):
    """One mutating call: who did what to which target, and how it ended."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_key: Mapped[str | None] = mapped_column(String(32), default=None)
    actor_userid: Mapped[str | None] = mapped_column(String(ID_LEN), default=None, index=True)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(500))
    action: Mapped[str] = mapped_column(String(ID_LEN), index=True)
    target: Mapped[str | None] = mapped_column(String(200), default=None, index=True)
    status_code: Mapped[int] = mapped_column(Integer)
    result: Mapped[str] = mapped_column(String(16))
    request_id: Mapped[str | None] = mapped_column(String(64), default=None)
    details: Mapped[dict[str, Any] | None] = mapped_column(default=None)


class IpPool(Base):
    """Addresses an admin hands to VMs on some nodes: a subnet with its gateway, DNS and the bridge it lives on."""

    __tablename__ = "ip_pools"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(ID_LEN), unique=True)
    cidr: Mapped[str] = mapped_column(String(64))
    gateway: Mapped[str | None] = mapped_column(String(45), default=None)
    dns_servers: Mapped[list[Any]] = mapped_column(default=list)
    search_domain: Mapped[str | None] = mapped_column(String(253), default=None)
    bridge: Mapped[str] = mapped_column(String(ID_LEN), default="vmbr0")
    vlan: Mapped[int | None] = mapped_column(Integer, default=None)
    nodes: Mapped[list[Any]] = mapped_column(default=list)
    excluded: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class IpAddress(Base):
    """An address of a pool held by a VM; the unique (pool, address) makes handing one out twice impossible."""

    __tablename__ = "ip_addresses"
    __table_args__ = (UniqueConstraint("pool_id", "address"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("ip_pools.id", ondelete="RESTRICT"), index=True)
    address: Mapped[str] = mapped_column(String(45))
    vmid: Mapped[int] = mapped_column(Integer, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class VmSize(Base):
    """A named VM size an admin defines (small, medium, large…): what ``POST /vm`` with ``size`` gets."""

    __tablename__ = "vm_sizes"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    cores: Mapped[int] = mapped_column(Integer)
    memory_mb: Mapped[int] = mapped_column(Integer)
    disk_gb: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConsoleTicket(Base):
    """A one-time console token: bound to a user and a VM, valid for a minute, used at most once.
    Only a hash of the token is stored."""

    __tablename__ = "console_tickets"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    vmid: Mapped[int] = mapped_column(Integer, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), default=None)
    kind: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None] = mapped_column(default=None)


class ServiceDomain(Base):
    """A custom domain of a service: ``pending`` until it resolves to the proxy, then ``active`` (routed, with a
    certificate). The unique hostname means one domain can never route to two services."""

    __tablename__ = "service_domains"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("docker_services.id", ondelete="CASCADE"), index=True)
    hostname: Mapped[str] = mapped_column(String(253), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    checked_at: Mapped[datetime | None] = mapped_column(default=None)
    active_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebSession(Base):
    """A dashboard session: an API key exchanged for a cookie. Only a hash of the cookie's token is stored; the
    key itself never is, and the session dies with it (the key is checked on every request)."""

    __tablename__ = "web_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
