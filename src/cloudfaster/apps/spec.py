"""What a caller asks the builder for: service types, resource limits, database credentials, the service spec."""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from cloudfaster.apps.errors import TemplateError


class ServiceType(StrEnum):
    """One template kind; a service combines one or more."""

    STATIC = "static"
    PHP = "php"
    NODE = "node"
    REACT = "react"
    MYSQL = "mysql"
    POSTGRES = "postgres"
    MACOS = "macos"


APP_TYPES = frozenset({ServiceType.STATIC, ServiceType.PHP, ServiceType.NODE, ServiceType.REACT})
DATABASE_TYPES = frozenset({ServiceType.MYSQL, ServiceType.POSTGRES})


def parse_service_types(values: Iterable[str]) -> frozenset[ServiceType]:
    """Parse and check a combination of service types: at most one app kind, any databases, macOS alone."""
    raw = [v.strip().lower() for v in values if v.strip()]
    if not raw:
        raise TemplateError("at least one service type is required", code="service_types_invalid")
    known = {t.value for t in ServiceType}
    unknown = sorted({v for v in raw if v not in known})
    if unknown:
        raise TemplateError(
            f"unknown service type(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}",
            code="service_types_invalid",
        )
    types = frozenset(ServiceType(v) for v in raw)
    if ServiceType.MACOS in types and len(types) > 1:
        raise TemplateError("macos cannot be combined with other types", code="service_types_incompatible")
    apps = sorted(t.value for t in types & APP_TYPES)
    if len(apps) > 1:
        raise TemplateError(
            f"only one application type per service, got {', '.join(apps)}", code="service_types_incompatible"
        )
    return types


@dataclass(frozen=True)
class ResourceLimits:
    """Limits of the service's main container (sidecars get small fixed limits)."""

    cpus: float = 0.5
    memory_mb: int = 256
    pids: int = 128

    def __post_init__(self) -> None:
        if not 0.01 <= self.cpus <= 64:
            raise TemplateError("cpus must be between 0.01 and 64", code="limits_invalid")
        if not 16 <= self.memory_mb <= 1024 * 1024:
            raise TemplateError("memory_mb must be between 16 and 1048576", code="limits_invalid")
        if not 16 <= self.pids <= 65536:
            raise TemplateError("pids must be between 16 and 65536", code="limits_invalid")


_ALNUM = string.ascii_letters + string.digits


def random_token(length: int = 24) -> str:
    """A random alphanumeric string (safe in env files, URLs and shell words without quoting)."""
    return "".join(secrets.choice(_ALNUM) for _ in range(length))


@dataclass(frozen=True)
class DatabaseCredentials:
    """The application database and account created in the service's database container(s)."""

    name: str
    user: str
    password: str
    root_password: str

    @classmethod
    def generate(cls, name: str = "app", user: str = "app") -> DatabaseCredentials:
        """New random passwords for a database called ``name`` owned by ``user``."""
        return cls(name=name, user=user, password=random_token(), root_password=random_token())

    def __post_init__(self) -> None:
        for label, value in (("name", self.name), ("user", self.user)):
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,31}", value):
                raise TemplateError(f"database {label} {value!r} is not a plain identifier", code="env_invalid")
        for value in (self.password, self.root_password):
            if not re.fullmatch(r"[A-Za-z0-9]{12,128}", value):
                raise TemplateError("database passwords must be 12-128 alphanumerics", code="env_invalid")


@dataclass(frozen=True)
class ServiceSpec:
    """Everything the builder needs to render one service's compose project."""

    project: str
    owner: str
    service_id: str
    types: frozenset[ServiceType]
    ports: Mapping[str, int]
    filebrowser_username: str
    filebrowser_password_hash: str
    database: DatabaseCredentials | None = None
    limits: ResourceLimits = field(default_factory=ResourceLimits)
    env: Mapping[str, str] = field(default_factory=dict)
    run_as: tuple[int, int] = (1000, 1000)
    react_build_dir: str = "build"
