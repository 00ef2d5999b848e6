"""Response bodies of the service API."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cloudfaster.api.accepted import OperationRef, operation_ref
from cloudfaster.apps.databases import Connection, connections
from cloudfaster.apps.domains import Domain
from cloudfaster.apps.environment import Variable
from cloudfaster.apps.service import FilebrowserAccount, ServiceDetail
from cloudfaster.apps.store import OwnedService
from cloudfaster.compose.protocol import ContainerStatus
from cloudfaster.db.models import ServiceDeployment


class ContainerRead(BaseModel):
    """One container of the service, as `docker compose ps` reports it."""

    service: str
    name: str
    state: str
    health: str
    exit_code: int
    ports: list[int]

    @classmethod
    def of(cls, status: ContainerStatus) -> ContainerRead:
        """Convert a parsed `ps` row."""
        return cls(
            service=status.service,
            name=status.name,
            state=status.state,
            health=status.health,
            exit_code=status.exit_code,
            ports=sorted({p.published_port for p in status.publishers}),
        )


class DatabaseRead(BaseModel):
    """How the app reaches its database: host and port inside the service's network, database, user; the
    password only in the answer that created or rotated it. While the owner publishes it for a desktop client
    (``publish_database`` on create, ``POST .../database/publish``), the address it listens at on the host."""

    engine: str
    host: str = Field(description="The database's host as the app sees it (its compose service name)")
    port: int = Field(description="Its port as the app sees it")
    database: str
    user: str
    password: str | None = Field(default=None, description="Shown once: on create and on rotation only")
    published_host: str | None = Field(
        default=None, description="Where a desktop client connects while the port is published, else null"
    )
    published_port: int | None = Field(default=None, description="The published host port, else null")

    @classmethod
    def of(cls, connection: Connection) -> DatabaseRead:
        """From the service layer's connection details."""
        return cls(**asdict(connection))


class ServiceRead(BaseModel):
    """A Docker Compose service."""

    id: int
    userid: str
    service_name: str
    service_types: list[str]
    source_type: str
    source_ref: str | None
    status: str
    status_detail: dict[str, Any] | None = None
    ports: dict[str, int] = Field(default_factory=dict)
    urls: dict[str, str] = Field(default_factory=dict)
    filebrowser_user: str | None = None
    containers: list[ContainerRead] | None = Field(
        default=None, description="Live state per container (only on GET /service/{id})"
    )
    docker_error: str | None = Field(default=None, description="Why `containers` could not be read")
    databases: list[DatabaseRead] = Field(default_factory=list, description="Connection details of its databases")
    operation: OperationRef | None = None
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None

    @classmethod
    def of(cls, owned: OwnedService, operation: OperationRef | None = None, *, db_host: str) -> ServiceRead:
        """Build from a row and its owner; ``db_host`` is where its published databases listen."""
        row = owned.row
        return cls(
            id=row.id,
            userid=owned.userid,
            service_name=row.service_name,
            service_types=list(row.service_types),
            source_type=row.source_type,
            source_ref=row.source_ref,
            status=row.status,
            status_detail=row.status_detail,
            ports=dict(row.ports or {}),
            urls=dict(row.urls or {}),
            filebrowser_user=row.filebrowser_user,
            operation=operation,
            created_at=row.created_at,
            updated_at=row.updated_at,
            deleted_at=row.deleted_at,
            databases=[DatabaseRead.of(c) for c in connections(owned, db_host)],
        )

    @classmethod
    def of_detail(cls, detail: ServiceDetail, *, db_host: str) -> ServiceRead:
        """Build from a service read with its live containers."""
        body = cls.of(detail.resource, operation_ref(detail.operation) if detail.operation else None, db_host=db_host)
        if detail.containers is not None:
            body.containers = [ContainerRead.of(c) for c in detail.containers]
        body.docker_error = detail.docker_error
        return body


class FilebrowserLogin(BaseModel):
    """The Filebrowser login of a new service: shown in this response only, never stored in plain text."""

    username: str
    password: str | None = Field(description="Null on an idempotent replay: the password is shown only once")
    url: str | None

    @classmethod
    def of(cls, account: FilebrowserAccount) -> FilebrowserLogin:
        """From the service layer's account."""
        return cls(username=account.username, password=account.password, url=account.url)


class ServiceCreated(ServiceRead):
    """A service being created, with its Filebrowser login (shown once)."""

    filebrowser: FilebrowserLogin


class LogLines(BaseModel):
    """The last lines of a service's container logs."""

    lines: list[str]


class DomainCreate(BaseModel):
    """A custom domain to add to a service."""

    model_config = ConfigDict(extra="forbid")

    hostname: str = Field(min_length=1, max_length=300, examples=["www.example.org"])


class DnsRecordRead(BaseModel):
    """A DNS record to create at the domain's DNS provider."""

    type: str = Field(examples=["A", "AAAA", "CNAME"])
    name: str
    value: str


class DomainRead(BaseModel):
    """A custom domain: ``pending`` until it resolves to the proxy, then ``active`` (routed, with a certificate)."""

    hostname: str
    status: str
    dns_records: list[DnsRecordRead] = Field(description="Create these so that the name resolves to the proxy")
    cname: DnsRecordRead = Field(description="Or this CNAME to the service's own name (not at a zone's apex)")
    active_at: datetime | None

    @classmethod
    def of(cls, domain: Domain) -> DomainRead:
        """From the service layer's domain."""
        return cls(
            hostname=domain.hostname,
            status=domain.status,
            dns_records=[DnsRecordRead(**vars(r)) for r in domain.records],
            cname=DnsRecordRead(**vars(domain.cname)),
            active_at=domain.active_at,
        )


class PasswordRotation(BaseModel):
    """A password rotation under way: the new password (shown once) and the operation that applies it."""

    database: list[DatabaseRead]
    operation: OperationRef | None


class DeploymentRead(BaseModel):
    """One deployment of a service."""

    number: int
    source_type: str
    source_ref: str | None
    source_digest: str | None = Field(description="The ZIP's SHA-256 or the git commit")
    rollback_of: int | None
    state: str
    kept: bool = Field(description="Its source is kept: it can be rolled back to")
    operation_id: str
    started_at: datetime
    finished_at: datetime | None
    output: str | None = Field(default=None, description="Build and compose output (tail)")

    @classmethod
    def of(cls, row: ServiceDeployment) -> DeploymentRead:
        """From a deployment record."""
        return cls.model_validate(row, from_attributes=True)


class EnvVariable(BaseModel):
    """One environment variable; a secret's value is write-only (null when read, and null keeps it when written)."""

    name: str = Field(max_length=128)
    value: str | None = Field(default=None, max_length=32 * 1024)
    secret: bool = False


class EnvRead(BaseModel):
    """A service's environment variables; changes apply on the next deploy or restart."""

    variables: list[EnvVariable]

    @classmethod
    def of(cls, variables: list[Variable]) -> EnvRead:
        """From the service layer's variables."""
        return cls(variables=[EnvVariable(name=v.name, value=v.value, secret=v.secret) for v in variables])


class EnvWrite(BaseModel):
    """Every variable of the service (a full replacement)."""

    variables: list[EnvVariable] = Field(max_length=200)


class WebhookCreated(BaseModel):
    """The push webhook: configure the URL and the secret at the git host (shown once; a new PUT replaces them)."""

    url: str
    secret: str
    content_type: str = "application/json"


class DeliveryRead(BaseModel):
    """What a webhook delivery did."""

    outcome: str
    reason: str | None = None
    operation: OperationRef | None = None
