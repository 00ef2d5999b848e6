"""Typed models of the API's answers, one per OpenAPI component (``catalog.SCHEMAS``, checked against
``GET /openapi.json`` by tests/cli/test_drift.py). Unknown fields are kept: a newer server does not break a client."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

T = TypeVar("T")

ACTIVE_STATES = frozenset({"pending", "running"})


class Model(BaseModel):
    """Base of every answer model: extra fields are kept, not refused."""

    model_config = ConfigDict(extra="allow")


class Page(Model, Generic[T]):
    """One page of a list; pass ``next_cursor`` as ``cursor`` for the next."""

    items: list[T]
    next_cursor: str | None = None


class OperationRef(Model):
    """The operation a call started."""

    id: str
    kind: str
    state: str
    url: str
    error: dict[str, Any] | None = None


class OperationStep(Model):
    """One step of an operation."""

    name: str
    state: str
    started_at: str | None = None
    finished_at: str | None = None
    detail: str | None = None
    attempt: int | None = None


class Operation(Model):
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

    @property
    def done(self) -> bool:
        """Whether it has ended, one way or another."""
        return self.state not in ACTIVE_STATES


class VmLive(Model):
    """Power state, usage and config from Proxmox right now."""

    power: str
    qmpstatus: str
    uptime_s: int
    cpus: int
    cpu_usage: float
    memory_bytes: int
    memory_used_bytes: int
    disk_bytes: int
    lock: str | None = None
    pending: dict[str, str] = {}
    config: dict[str, Any] = {}
    consoles: list[str] = ["vnc"]


class VmAddress(Model):
    """An address of the VM: from its IP pool, or as the guest agent reports it."""

    address: str
    prefix: int | None = None
    version: int
    source: str
    pool: str | None = None
    interface: str | None = None


class VmAgent(Model):
    """The QEMU guest agent's state."""

    state: str
    message: str | None = None


class Vm(Model):
    """A VM."""

    vmid: int
    userid: str | None
    name: str
    os: str
    cores: int
    memory: int
    disk: int
    sshkeys: list[str]
    node: str | None
    status: str
    status_detail: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None
    protected: bool = False
    operation: OperationRef | None = None
    addresses: list[VmAddress] = []
    login_user: str | None = None
    ssh: str | None = None
    agent: VmAgent | None = None
    live: VmLive | None = None
    live_error: dict[str, Any] | None = None


class OsInfo(Model):
    """One OS: its template, nodes, login user and smallest disk."""

    os: str
    template: str
    nodes: list[str]
    login_user: str
    min_disk_gb: int | None


class OsCatalog(Model):
    """The OS names, the managed nodes and per OS its details."""

    os: list[str]
    nodes: list[str]
    systems: list[OsInfo]
    error: dict[str, str] | None = None


class ConsoleLink(Model):
    """A browser console: open ``url`` within a minute; the token works once."""

    type: str
    vmid: int
    url: str
    websocket_url: str
    websocket_protocol: str
    token: str
    expires_at: datetime


class ReconcileResult(Model):
    """What a reconcile pass found."""

    checked: int
    missing: list[int]
    moved: list[int]
    drifted: list[int]
    back: list[int]
    leftovers_removed: list[int] = []


class Container(Model):
    """One container of a service."""

    service: str
    name: str
    state: str
    health: str
    exit_code: int
    ports: list[int]


class Database(Model):
    """How a service's app reaches its database; ``password`` only when created or rotated; ``published_host`` and
    ``published_port`` while it is published for a desktop client."""

    engine: str
    host: str
    port: int
    database: str
    user: str
    password: str | None = None
    published_host: str | None = None
    published_port: int | None = None


class Service(Model):
    """A Docker Compose service."""

    id: int
    userid: str
    service_name: str
    service_types: list[str]
    source_type: str
    source_ref: str | None
    status: str
    status_detail: dict[str, Any] | None = None
    ports: dict[str, int] = {}
    urls: dict[str, str] = {}
    filebrowser_user: str | None = None
    containers: list[Container] | None = None
    docker_error: str | None = None
    databases: list[Database] = []
    operation: OperationRef | None = None
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None


class FilebrowserLogin(Model):
    """The Filebrowser login of a new service, shown once."""

    username: str
    password: str | None
    url: str | None


class ServiceCreated(Service):
    """A new service, with its Filebrowser login."""

    filebrowser: FilebrowserLogin


class LogLines(Model):
    """Log lines of a service."""

    lines: list[str]


class DnsRecord(Model):
    """A DNS record to create."""

    type: str
    name: str
    value: str


class Domain(Model):
    """A custom domain of a service."""

    hostname: str
    status: str
    dns_records: list[DnsRecord]
    cname: DnsRecord
    active_at: datetime | None


class PasswordRotation(Model):
    """A database password rotation: the new password (shown once) and its operation."""

    database: list[Database]
    operation: OperationRef | None


class Deployment(Model):
    """One deployment of a service."""

    number: int
    source_type: str
    source_ref: str | None
    source_digest: str | None
    rollback_of: int | None
    state: str
    kept: bool
    operation_id: str
    started_at: datetime
    finished_at: datetime | None
    output: str | None = None


class EnvVariable(Model):
    """One environment variable (a secret's value is null when read)."""

    name: str
    value: str | None = None
    secret: bool = False


class Env(Model):
    """A service's environment variables."""

    variables: list[EnvVariable]


class Webhook(Model):
    """A service's push webhook, shown once."""

    url: str
    secret: str
    content_type: str = "application/json"
