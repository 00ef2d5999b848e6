"""Response bodies of the service API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cloudfaster.api.accepted import OperationRef, operation_ref
from cloudfaster.apps.domains import Domain
from cloudfaster.apps.service import FilebrowserAccount, ServiceDetail
from cloudfaster.apps.store import OwnedService
from cloudfaster.compose.protocol import ContainerStatus


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
    operation: OperationRef | None = None
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None

    @classmethod
    def of(cls, owned: OwnedService, operation: OperationRef | None = None) -> ServiceRead:
        """Build from a row and its owner."""
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
        )

    @classmethod
    def of_detail(cls, detail: ServiceDetail) -> ServiceRead:
        """Build from a service read with its live containers."""
        body = cls.of(detail.resource, operation_ref(detail.operation) if detail.operation else None)
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
