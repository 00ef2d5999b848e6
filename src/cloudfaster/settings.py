"""CloudFaster settings: environment variables (prefix ``CLOUDFASTER_``, nested with ``__``) or ``.env``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, IPvAnyAddress, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from cloudfaster.rate_notation import parse_rules

LogFormat = Literal["rich", "json", "plain"]
BrokerKind = Literal["memory", "rabbitmq", "redis"]
_DNS_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")


class ProxmoxNode(BaseModel):
    """One Proxmox VE node that CloudFaster may place VMs on."""

    name: str = Field(pattern=r"^[a-zA-Z0-9][a-zA-Z0-9-]{0,62}$")
    host: str
    port: int = Field(default=8006, ge=1, le=65535)


class VmSizeDefault(BaseModel):
    """A named VM size seeded on the first start (admins change them later through ``/sizes``)."""

    cores: int = Field(ge=1, le=128)
    memory_mb: int = Field(ge=256, le=1_048_576)
    disk_gb: int = Field(ge=1, le=65_536)
    description: str = Field(default="", max_length=200)


def default_vm_sizes() -> dict[str, VmSizeDefault]:
    """small, medium and large: the sizes a fresh installation starts with."""
    return {
        "small": VmSizeDefault(cores=1, memory_mb=1024, disk_gb=10, description="1 vCPU, 1 GB RAM, 10 GB disk"),
        "medium": VmSizeDefault(cores=2, memory_mb=4096, disk_gb=40, description="2 vCPUs, 4 GB RAM, 40 GB disk"),
        "large": VmSizeDefault(cores=4, memory_mb=8192, disk_gb=80, description="4 vCPUs, 8 GB RAM, 80 GB disk"),
    }


class ProxmoxSettings(BaseModel):
    """How to reach the Proxmox VE cluster."""

    nodes: list[ProxmoxNode] = Field(default_factory=list)
    token_id: str = "root@pam!cloudfaster"  # noqa: S105 (an identifier, not a secret)
    token_secret: SecretStr = SecretStr("")
    verify_ssl: bool = True
    ca_file: Path | None = None
    timeout_s: float = Field(default=10.0, gt=0)
    storage: str = "local-lvm"
    # OS name -> template VM name; the template's VMID is looked up per node.
    templates: dict[str, str] = Field(
        default_factory=lambda: {
            "debian-12": "tpl-debian-12",
            "debian-13": "tpl-debian-13",
            "ubuntu-22.04": "tpl-ubuntu-22.04",
            "ubuntu-24.04": "tpl-ubuntu-24.04",
            "rocky-9": "tpl-rocky-9",
        }
    )
    vmid_min: int = Field(default=1000, ge=100)
    vmid_max: int = Field(default=999_999_999, le=999_999_999)
    task_poll_interval_s: float = Field(default=0.2, gt=0)
    task_timeout_s: float = Field(default=600.0, gt=0)
    # None = start an embedded simulator (pvesim) exactly when no node is configured; True/False force it.
    sandbox: bool | None = None
    api_threads: int = Field(default=32, ge=1, le=512)
    transient_retries: int = Field(default=3, ge=0, le=10)
    retry_backoff_s: float = Field(default=0.2, ge=0)
    reconcile_interval_s: float = Field(default=60.0, gt=0)
    ci_user: str = Field(default="cloud", pattern=r"^[a-z_][a-z0-9_-]{0,31}$")
    # Written to the vm_sizes table when it is empty at start-up (the first start); after that, /sizes rules.
    sizes: dict[str, VmSizeDefault] = Field(default_factory=default_vm_sizes)
    # Where backups go (a storage with content `backup`; per node unless shared) and vzdump's mode.
    backup_storage: str = Field(default="local", pattern=r"^[a-z][a-z0-9\-_.]*[a-z0-9]$")
    backup_mode: Literal["snapshot", "suspend", "stop"] = "snapshot"
    # How often worker processes look for backup schedules that are due.
    schedule_interval_s: float = Field(default=30.0, gt=0)

    @model_validator(mode="after")
    def _sandbox_only_without_nodes(self) -> ProxmoxSettings:
        if self.sandbox and self.nodes:
            raise ValueError("sandbox=true cannot be combined with configured nodes")
        return self

    @field_validator("sizes")
    @classmethod
    def _size_names(cls, sizes: dict[str, VmSizeDefault]) -> dict[str, VmSizeDefault]:
        bad = [name for name in sizes if not re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,31}", name)]
        if bad:
            raise ValueError(f"size names are lower-case letters, digits, '.', '_', '-' (at most 32): {bad}")
        return sizes

    @property
    def use_sandbox(self) -> bool:
        """Whether CloudFaster runs against an embedded simulator instead of a real cluster."""
        return self.sandbox if self.sandbox is not None else not self.nodes


class DockerSettings(BaseModel):
    """How services are laid out on disk and exposed."""

    base_path: Path | None = None  # default: <data_dir>/services
    docker_host: str | None = None  # e.g. unix:///var/run/docker.sock; None = the docker CLI's default
    compose_command: list[str] = Field(default_factory=lambda: ["docker", "compose"])
    bind_address: str = "127.0.0.1"
    public_base_url: str = "http://127.0.0.1"
    port_range_start: int = Field(default=20000, ge=1024, le=65535)
    port_range_end: int = Field(default=29999, ge=1024, le=65535)
    # Upstream Filebrowser was archived on 2026-09-01; v2.63.23 is its last release (notes/docker-side.md §2).
    filebrowser_image: str = "filebrowser/filebrowser:v2.63.23"
    macos_enabled: bool = False
    macos_image: str = "sickcodes/docker-osx:latest"
    kvm_device: Path = Path("/dev/kvm")
    # uid/gid that owns data/ and the Filebrowser state (the Filebrowser image runs as 1000:1000).
    files_uid: int = Field(default=1000, ge=0)
    files_gid: int = Field(default=1000, ge=0)
    # Clone only from hosts that resolve to public addresses (SSRF guard); tests turn this on for 127.0.0.1.
    git_allow_private_hosts: bool = False
    max_zip_ratio: int = Field(default=200, gt=0)  # uncompressed/compressed, per entry and in all: zip-bomb guard
    healthcheck_interval_s: float = Field(default=5.0, gt=0)
    up_timeout_s: float = Field(default=180.0, gt=0)
    git_timeout_s: float = Field(default=60.0, gt=0)
    max_zip_bytes: int = Field(default=100 * 1024 * 1024, gt=0)
    max_unpacked_bytes: int = Field(default=500 * 1024 * 1024, gt=0)
    max_zip_entries: int = Field(default=20_000, gt=0)
    max_repo_bytes: int = Field(default=500 * 1024 * 1024, gt=0)
    # A CA bundle git trusts for https clones (e.g. an internal git server); None = the system's.
    git_ca_file: Path | None = None
    # Prepended to service ids in compose project names (cf-<namespace><id>), so several CloudFaster instances
    # (or test runs) can share one Docker Engine without their projects colliding.
    project_namespace: str = Field(default="", pattern=r"^([a-z0-9]{1,20}-)?$")
    # The most one service may ask for (its main container); more is a 422.
    max_service_cpus: float = Field(default=4.0, gt=0)
    max_service_memory_mb: int = Field(default=8192, gt=0)
    max_service_pids: int = Field(default=4096, gt=0)
    # Worker processes compare running services with Docker this often; a removed or stopped container is either
    # reported (status degraded/missing) or brought back with `compose up` (restart).
    reconcile_interval_s: float = Field(default=60.0, gt=0)
    reconcile_action: Literal["report", "restart"] = "report"
    # Deployments whose source stays under the service's directory, to roll back to (older ones keep their record).
    deployments_kept: int = Field(default=5, ge=1, le=100)
    # Database dumps: the largest upload imported and export produced, and how long either may run.
    max_dump_bytes: int = Field(default=1024 * 1024 * 1024, gt=0)
    dump_timeout_s: float = Field(default=900.0, gt=0)

    @model_validator(mode="after")
    def _port_range_ordered(self) -> DockerSettings:
        if self.port_range_start > self.port_range_end:
            raise ValueError("port_range_start must not exceed port_range_end")
        return self


class ProxySettings(BaseModel):
    """The reverse proxy (Caddy, through its admin API) that gives every service an https name."""

    admin_url: str | None = Field(default=None, description="Caddy's admin API, e.g. http://127.0.0.1:2019")
    apps_domain: str | None = Field(default=None, description="Services are <service>-<user>.<apps_domain>")
    listen_host: str = Field(default="", description="Address the listeners bind to; empty: every interface")
    https_port: int = Field(default=443, ge=1, le=65535)
    http_port: int = Field(default=80, ge=1, le=65535)
    tls: Literal["acme", "internal"] = "acme"
    acme_email: str | None = None
    # The proxy's public IPv4/IPv6 addresses: the A/AAAA records a custom domain needs (else a CNAME).
    public_addresses: list[IPvAnyAddress] = Field(default_factory=list)
    # None = start a local Caddy (if installed) in the sandbox, i.e. when neither admin_url nor a Proxmox node
    # is configured; True/False force it.
    sandbox: bool | None = None
    reconcile_interval_s: float = Field(default=3.0, gt=0)
    domain_check_interval_s: float = Field(default=30.0, gt=0)
    max_domains_per_service: int = Field(default=20, ge=0)
    timeout_s: float = Field(default=5.0, gt=0)

    @field_validator("apps_domain")
    @classmethod
    def _dns_name(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.lower().rstrip(".")
        if len(value) > 190 or not all(_DNS_LABEL.fullmatch(label) for label in value.split(".")):
            raise ValueError("must be a DNS name of lowercase labels [a-z0-9-], at most 190 characters")
        return value

    @model_validator(mode="after")
    def _domain_with_admin(self) -> ProxySettings:
        if self.admin_url and not self.apps_domain:
            raise ValueError("apps_domain is needed with admin_url (services are named <service>-<user>.<domain>)")
        return self


class QuotaDefaults(BaseModel):
    """Per-user limits that apply until an admin sets others."""

    max_vms: int = Field(default=10, ge=0)
    max_vcpus: int = Field(default=32, ge=0)
    max_memory_mb: int = Field(default=65536, ge=0)
    max_disk_gb: int = Field(default=1000, ge=0)
    max_services: int = Field(default=10, ge=0)
    max_snapshots_per_vm: int = Field(default=10, ge=0)
    max_backups: int = Field(default=20, ge=0, description="backups a user may hold, scheduled ones included")
    max_backup_gb: int = Field(default=500, ge=0, description="total size of a user's backup archives")


class LoggingSettings(BaseModel):
    """Console and file logging."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    console_format: LogFormat = "rich"
    dir: Path | None = None  # default: <data_dir>/logs
    file_max_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    file_backups: int = Field(default=5, ge=0)
    stream_queue_size: int = Field(default=1000, gt=0)


class RateLimitSettings(BaseModel):
    """Per-API-key request limits and per-address failed authentications; with a shared storage (Redis) they
    hold across API replicas."""

    enabled: bool = True
    per_key: str = Field(default="100/second", description="limits notation, e.g. '100/second;2000/minute'")
    auth_failures_per_address: str = Field(
        default="20/minute", description="failed authentications per client address before 429"
    )
    storage_url: SecretStr = SecretStr("async+memory://")

    @field_validator("per_key", "auth_failures_per_address")
    @classmethod
    def _parseable(cls, value: str) -> str:
        try:
            parse_rules(value)
        except ValueError as exc:
            raise ValueError(f"not a rate limit: {exc}") from None
        return value


class WorkerSettings(BaseModel):
    """The operations runner."""

    broker: BrokerKind = "memory"
    broker_url: SecretStr | None = None
    queue: str = Field(default="cloudfaster.operations", pattern=r"^[A-Za-z0-9._:-]{1,200}$")
    lease_s: float = Field(default=60.0, gt=0)
    sweep_interval_s: float = Field(default=15.0, gt=0)
    max_attempts: int = Field(default=5, ge=1)
    shutdown_grace_s: float = Field(default=10.0, ge=0, description="time to finish work before handing it back")
    concurrency: int = Field(default=128, ge=1)


def default_data_dir() -> Path:
    """The per-user data directory (``~/.local/share/cloudfaster`` on Linux): the same from every working directory."""
    from platformdirs import user_data_path  # only when no data directory is given

    return user_data_path("cloudfaster", appauthor=False)


class DashboardSettings(BaseModel):
    """The web dashboard's sessions."""

    session_ttl_s: float = Field(default=8 * 3600.0, gt=0, le=30 * 86400, description="how long a sign-in lasts")


class Settings(BaseSettings):
    """All of CloudFaster's configuration, built once at start-up and passed down."""

    model_config = SettingsConfigDict(
        env_prefix="CLOUDFASTER_",
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str | None = None  # default: sqlite+aiosqlite:///<data_dir>/cloudfaster.db
    admin_api_key: SecretStr | None = None
    max_body_bytes: int = Field(default=200 * 1024 * 1024, gt=0)
    max_json_body_bytes: int = Field(default=1024 * 1024, gt=0)
    environment: Literal["development", "production"] = "development"

    proxmox: ProxmoxSettings = Field(default_factory=ProxmoxSettings)
    docker: DockerSettings = Field(default_factory=DockerSettings)
    proxy: ProxySettings = Field(default_factory=ProxySettings)
    quotas: QuotaDefaults = Field(default_factory=QuotaDefaults)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    rate_limit: RateLimitSettings = Field(default_factory=RateLimitSettings)
    dashboard: DashboardSettings = Field(default_factory=DashboardSettings)

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().absolute()

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str | None) -> str | None:
        if value is None:
            return None
        allowed = ("sqlite+aiosqlite://", "mysql+aiomysql://", "postgresql+asyncpg://")
        if not value.startswith(allowed):
            raise ValueError(f"must start with one of {', '.join(allowed)}")
        return value

    @property
    def effective_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'cloudfaster.db').resolve()}"

    @property
    def services_path(self) -> Path:
        """Where service directories live."""
        return self.docker.base_path or self.data_dir / "services"

    @property
    def log_dir(self) -> Path:
        """Where rotating log files are written."""
        return self.logging.dir or self.data_dir / "logs"
