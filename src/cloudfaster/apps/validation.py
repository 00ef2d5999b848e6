"""Checking a create request before any side effect: name, types, macOS, environment, limits, source."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from cloudfaster.apps.builder import RESERVED_ENV
from cloudfaster.apps.envfile import validate_user_env
from cloudfaster.apps.errors import AppsDomainError, invalid_request
from cloudfaster.apps.layout import validate_service_name
from cloudfaster.apps.macos import ensure_macos_available
from cloudfaster.apps.spec import DATABASE_TYPES, ResourceLimits, ServiceType, parse_service_types
from cloudfaster.core.errors import ValidationFailedError
from cloudfaster.settings import DockerSettings

MAX_ENV_VARS = 200
MACOS_MIN_MEMORY_MB = 3072  # QEMU gets memory_mb - 1 GB and needs at least 2 GB


@dataclass(frozen=True)
class CheckedCreate:
    """A create request that passed every check that needs no side effect."""

    service_name: str
    types: frozenset[ServiceType]
    env: dict[str, str]
    limits: ResourceLimits
    publish_database: bool = False

    @property
    def type_names(self) -> list[str]:
        """The service types, sorted."""
        return sorted(t.value for t in self.types)

    @property
    def published_databases(self) -> list[str]:
        """The databases whose port is published on the bind address from the start (host ports named so)."""
        return sorted(t.value for t in self.types & DATABASE_TYPES) if self.publish_database else []


def split_types(values: Iterable[str]) -> list[str]:
    """Accept ``service_types`` as repeated fields, comma-separated, or both."""
    return [part for value in values for part in value.split(",")]


def parse_env(raw: str | None) -> dict[str, str]:
    """The ``env`` form field: a JSON object of string values."""
    if raw is None or not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValidationFailedError("env must be a JSON object of strings", code="env_invalid") from exc
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ValidationFailedError("env must be a JSON object of strings", code="env_invalid")
    if len(value) > MAX_ENV_VARS:
        raise ValidationFailedError(f"at most {MAX_ENV_VARS} environment variables", code="env_invalid")
    return value


def check_limits(
    settings: DockerSettings, cpus: float | None, memory_mb: int | None, pids: int | None
) -> ResourceLimits:
    """The main container's limits: defaults for what is not given, each within the per-service maximum."""
    default = ResourceLimits()
    try:
        limits = ResourceLimits(
            cpus=default.cpus if cpus is None else cpus,
            memory_mb=default.memory_mb if memory_mb is None else memory_mb,
            pids=default.pids if pids is None else pids,
        )
    except AppsDomainError as exc:
        raise invalid_request(exc) from exc
    over = {
        name: {"requested": wanted, "max": limit}
        for name, wanted, limit in (
            ("cpus", limits.cpus, settings.max_service_cpus),
            ("memory_mb", limits.memory_mb, settings.max_service_memory_mb),
            ("pids", limits.pids, settings.max_service_pids),
        )
        if wanted > limit
    }
    if over:
        raise ValidationFailedError(
            f"resource limits over the per-service maximum: {', '.join(over)}", code="limits_exceeded", details=over
        )
    return limits


def check_create(
    settings: DockerSettings,
    *,
    service_name: str,
    service_types: Iterable[str],
    env: str | None,
    cpus: float | None,
    memory_mb: int | None,
    pids: int | None,
    publish_database: bool = False,
) -> CheckedCreate:
    """Validate everything about a create request that can be checked without touching disk or Docker."""
    try:
        name = validate_service_name(service_name)
        types = parse_service_types(split_types(service_types))
        if ServiceType.MACOS in types:
            ensure_macos_available(settings.macos_enabled, settings.kvm_device)
        user_env = validate_user_env(parse_env(env), RESERVED_ENV)
    except AppsDomainError as exc:
        raise invalid_request(exc) from exc
    limits = check_limits(settings, cpus, memory_mb, pids)
    if ServiceType.MACOS in types and limits.memory_mb < MACOS_MIN_MEMORY_MB:
        raise ValidationFailedError(f"macOS needs memory_mb of at least {MACOS_MIN_MEMORY_MB}", code="limits_invalid")
    if publish_database and not types & DATABASE_TYPES:
        raise ValidationFailedError(
            "publish_database needs a mysql or postgres service type", code="publish_needs_database"
        )
    return CheckedCreate(service_name=name, types=types, env=user_env, limits=limits, publish_database=publish_database)
