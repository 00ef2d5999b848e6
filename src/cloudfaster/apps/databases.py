"""A service's MySQL or PostgreSQL database: its connection details, the password handed to an operation (shown
once, never stored by CloudFaster outside the service's 0600 env files), dumps exported and imported as operations
(``service.db-export``, ``service.db-import``) and the password rotated (``service.rotate-db-password``).

Every command runs inside the database container with the credentials its own environment holds, so no secret is
ever on a command line; PostgreSQL is reached over its local socket (trusted inside the container by the image's
``pg_hba.conf``), so a rotation half done is never locked out.
"""

from __future__ import annotations

import asyncio
import gzip
import ipaddress
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal
from urllib.parse import urlsplit

from cloudfaster.apps import store
from cloudfaster.apps.handoff import DB_NAME, DB_USER, hand_off_credentials
from cloudfaster.apps.intake import CHUNK, discard, new_staging_dir
from cloudfaster.apps.layout import ServiceLayout
from cloudfaster.apps.operations import start_operation
from cloudfaster.apps.params import DatabaseParams
from cloudfaster.apps.runtime import AppRuntime
from cloudfaster.apps.spec import DatabaseCredentials, random_token
from cloudfaster.apps.store import OwnedService
from cloudfaster.apps.templates import DATABASE_PORTS
from cloudfaster.core.errors import ConflictError, NotFoundError, PayloadTooLargeError, ValidationFailedError
from cloudfaster.core.operations import Started
from cloudfaster.core.principal import Principal
from cloudfaster.settings import DockerSettings

Engine = Literal["mysql", "postgres"]
ENGINES: tuple[Engine, ...] = ("mysql", "postgres")
PORTS: dict[Engine, int] = {"mysql": DATABASE_PORTS["mysql"], "postgres": DATABASE_PORTS["postgres"]}
UPLOAD_FILE = "upload"
EXPORTS_DIR = "exports"
EXPORTS_KEPT = 3
GZIP_MAGIC = b"\x1f\x8b"
SNIFF_BYTES = 64 * 1024

# What runs inside the container (argv for `exec`, no shell on our side; the container's sh reads its own env).
DUMP: dict[Engine, list[str]] = {
    "mysql": ["sh", "-c", 'MYSQL_PWD="$MYSQL_ROOT_PASSWORD" exec mysqldump -uroot -h127.0.0.1 --single-transaction '
              '--routines --triggers --no-tablespaces "$MYSQL_DATABASE"'],
    "postgres": ["sh", "-c", 'exec pg_dump -h "${PGHOST:-/var/run/postgresql}" -U "$POSTGRES_USER" --no-owner '
                 '--no-privileges "$POSTGRES_DB"'],
}  # fmt: skip
LOAD: dict[Engine, list[str]] = {
    "mysql": ["sh", "-c", 'MYSQL_PWD="$MYSQL_ROOT_PASSWORD" exec mysql -uroot -h127.0.0.1 "$MYSQL_DATABASE"'],
    "postgres": ["sh", "-c", 'exec psql -X -q -v ON_ERROR_STOP=1 -h "${PGHOST:-/var/run/postgresql}" '
                 '-U "$POSTGRES_USER" -d "$POSTGRES_DB"'],
}  # fmt: skip
ADMIN: dict[Engine, list[str]] = {
    "mysql": ["sh", "-c", 'MYSQL_PWD="$MYSQL_ROOT_PASSWORD" exec mysql -uroot -h127.0.0.1'],
    "postgres": LOAD["postgres"],
}


@dataclass(frozen=True)
class Connection:
    """How the app reaches one database (``password`` only in the answer that created or rotated it), and where
    a desktop client does while the owner publishes it (else None)."""

    engine: Engine
    host: str
    port: int
    database: str
    user: str
    password: str | None = None
    published_host: str | None = None
    published_port: int | None = None


def engines_of(owned: OwnedService) -> list[Engine]:
    """The database engines a service runs."""
    return [engine for engine in ENGINES if engine in owned.row.service_types]


def published_host(docker: DockerSettings) -> str:
    """Where a desktop client reaches a published database: the bind address, or for an unspecified one (every
    interface) the host of ``public_base_url``."""
    try:
        unspecified = ipaddress.ip_address(docker.bind_address).is_unspecified
    except ValueError:  # a host name: Docker resolves it, and so will the client
        unspecified = False
    if unspecified:
        return urlsplit(docker.public_base_url).hostname or "127.0.0.1"
    return docker.bind_address


def connections(owned: OwnedService, host: str, password: str | None = None) -> list[Connection]:
    """The connection details of a service's databases, as its app sees them (the compose service name), and the
    published address (on ``host``) of each one its owner publishes."""
    ports = owned.row.ports or {}
    found = []
    for e in engines_of(owned):
        published = ports.get(e)
        shown = (host, int(published)) if published is not None else (None, None)
        found.append(Connection(e, e, PORTS[e], DB_NAME, DB_USER, password, *shown))
    return found


def chosen_engines(owned: OwnedService, engine: str | None) -> list[Engine]:
    """The engine named (422 when the service has no such database), or every one the service runs."""
    if engine is None and engines_of(owned):
        return engines_of(owned)
    return [_engine(owned, engine)]  # 409 when it has none


def _engine(owned: OwnedService, engine: str | None) -> Engine:
    present = engines_of(owned)
    chosen = next((e for e in present if e == engine), None)
    if not present:
        raise ConflictError(f"service {owned.row.id} has no database", code="service_has_no_database")
    if engine is None:
        if len(present) > 1:
            raise ValidationFailedError("the service runs MySQL and PostgreSQL: say which", code="engine_ambiguous")
        return present[0]
    if chosen is None:
        raise ValidationFailedError(f"the service has no {engine} database", code="engine_invalid")
    return chosen


def _receive(upload: BinaryIO, staging: Path, limit: int) -> None:
    """Copy an uploaded dump (``.sql`` or ``.sql.gz``) into the staging directory: 413 over the limit, 422 when
    it is not a gzip stream or SQL text."""
    upload.seek(0)
    head = upload.read(SNIFF_BYTES)
    total = len(head)
    target = staging / UPLOAD_FILE
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(head)
        while chunk := upload.read(CHUNK):
            total += len(chunk)
            if total > limit:
                raise PayloadTooLargeError(f"a dump may be at most {limit} bytes", code="dump_too_large")
            out.write(chunk)
    if total > limit:
        raise PayloadTooLargeError(f"a dump may be at most {limit} bytes", code="dump_too_large")
    sample = head
    if head.startswith(GZIP_MAGIC):
        try:
            with gzip.open(target, "rb") as unpacked:
                sample = unpacked.read(SNIFF_BYTES)
        except (OSError, EOFError) as exc:
            raise ValidationFailedError(f"the dump is not a valid gzip file: {exc}", code="dump_invalid") from exc
    if not sample.strip() or b"\x00" in sample:
        raise ValidationFailedError("the dump is empty or not SQL text (.sql or .sql.gz)", code="dump_invalid")
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(sample) - 4:  # a character cut at the end of the sample is fine
            raise ValidationFailedError("the dump is not UTF-8 SQL text", code="dump_invalid") from exc


async def _start(
    rt: AppRuntime, owned: OwnedService, kind: str, params: DatabaseParams, key: str | None, fp: dict[str, Any]
) -> Started[OwnedService]:
    try:
        return await start_operation(
            rt, owned, kind=kind, transitional=None, params=params, fingerprint=fp, idempotency_key=key
        )
    except BaseException:
        discard(params.handoff_path)
        raise


async def export(
    rt: AppRuntime, principal: Principal, service_id: int, engine: str | None, idempotency_key: str | None
) -> Started[OwnedService]:
    """Start ``service.db-export``: a gzipped dump made inside the database container, to download."""
    owned = await store.load_visible(rt.db, principal, service_id)
    chosen = _engine(owned, engine)
    params = DatabaseParams(service_id=service_id, engine=chosen)
    return await _start(rt, owned, "service.db-export", params, idempotency_key, {"engine": chosen})


async def import_dump(
    rt: AppRuntime,
    principal: Principal,
    service_id: int,
    engine: str | None,
    upload: BinaryIO,
    idempotency_key: str | None,
) -> Started[OwnedService]:
    """Check and stage an uploaded dump, then start ``service.db-import`` (loads it into the app's database)."""
    owned = await store.load_visible(rt.db, principal, service_id)
    chosen = _engine(owned, engine)
    staging = new_staging_dir(rt.settings)
    try:
        await asyncio.to_thread(_receive, upload, staging, rt.settings.docker.max_dump_bytes)
    except BaseException:
        discard(staging)
        raise
    params = DatabaseParams(service_id=service_id, engine=chosen, handoff=str(staging))
    fingerprint = {"engine": chosen, "upload": staging.name}  # every upload is a new import
    return await _start(rt, owned, "service.db-import", params, idempotency_key, fingerprint)


async def rotate_password(
    rt: AppRuntime, principal: Principal, service_id: int, idempotency_key: str | None
) -> tuple[Started[OwnedService], str | None]:
    """Start ``service.rotate-db-password`` with a new password, returned once (None on a replay)."""
    owned = await store.load_visible(rt.db, principal, service_id)
    _engine(owned, engines_of(owned)[0] if engines_of(owned) else None)
    password = random_token()
    staging = hand_off_credentials(rt.settings, DatabaseCredentials(DB_NAME, DB_USER, password, random_token()))
    params = DatabaseParams(service_id=service_id, handoff=str(staging))
    started = await _start(rt, owned, "service.rotate-db-password", params, idempotency_key, {})
    if started.replayed:
        discard(staging)
        return started, None
    return started, password


def export_file(layout: ServiceLayout, operation_id: str) -> Path:
    """Where ``service.db-export`` leaves its dump."""
    return layout.root / EXPORTS_DIR / f"{operation_id}.sql.gz"


async def download(rt: AppRuntime, principal: Principal, service_id: int, operation_id: str) -> tuple[Path, str]:
    """The file of a finished export and the name to download it as; 404 when there is none (any more)."""
    owned = await store.load_visible(rt.db, principal, service_id)
    path = export_file(store.layout_of(rt.settings, owned.userid, service_id), operation_id)
    if not await asyncio.to_thread(path.is_file):
        raise NotFoundError("no such export (only the newest few are kept)", code="export_not_found")
    return path, f"{owned.row.service_name}-{operation_id[:8]}.sql.gz"


def gzip_file(source: Path, target: Path, limit: int) -> int:
    """Compress ``source`` into ``target`` (mode 0600); the compressed size, or ``ValueError`` over ``limit``."""
    partial = target.with_name(target.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with source.open("rb") as raw, os.fdopen(fd, "wb") as sink, gzip.GzipFile(fileobj=sink, mode="wb") as out:
            shutil.copyfileobj(raw, out, CHUNK)
        size = partial.stat().st_size
        if size > limit:
            raise ValueError(size)
        os.replace(partial, target)
        return size
    finally:
        partial.unlink(missing_ok=True)


def gunzip_file(source: Path, target: Path, limit: int) -> None:
    """Decompress ``source`` into ``target`` (mode 0600), or ``ValueError`` once it grows over ``limit``."""
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    total = 0
    with gzip.open(source, "rb") as packed, os.fdopen(fd, "wb") as out:
        while chunk := packed.read(CHUNK):
            total += len(chunk)
            if total > limit:
                raise ValueError(total)
            out.write(chunk)


def prune_exports(layout: ServiceLayout) -> None:
    """Keep the newest ``EXPORTS_KEPT`` dumps of a service."""
    root = layout.root / EXPORTS_DIR
    dumps = sorted(root.glob("*.sql.gz"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in dumps[EXPORTS_KEPT:]:
        old.unlink(missing_ok=True)
