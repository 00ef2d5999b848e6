"""Publishing a service's MySQL or PostgreSQL port on the bind address for a desktop client (off by default).

The host port comes from the allocator of the app's and Filebrowser's ports (``ports``) and is named after the
engine in the service's ``ports``: that entry is the one record of a database being published. The compose file
follows it: ``service.db-publish`` and ``service.db-unpublish`` (``kinds.publish``) set or remove the database
service's ``ports`` in the rendered file, and `up` recreates that container alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cloudfaster.apps import compose_yaml, databases, store
from cloudfaster.apps.layout import ServiceLayout
from cloudfaster.apps.operations import start_operation
from cloudfaster.apps.params import PublishParams
from cloudfaster.apps.policy import check_policy
from cloudfaster.apps.ports import allocate_ports, in_transaction_retrying, release_ports
from cloudfaster.apps.runtime import AppRuntime
from cloudfaster.apps.schema import validate_compose_schema
from cloudfaster.apps.store import OwnedService
from cloudfaster.apps.templates import DATABASE_PORTS, Templates
from cloudfaster.core.errors import ConflictError
from cloudfaster.core.operations import Started
from cloudfaster.core.principal import Principal
from cloudfaster.core.runner.kinds import OperationFailedError

PUBLISH = "service.db-publish"
UNPUBLISH = "service.db-unpublish"


async def set_published(
    rt: AppRuntime,
    principal: Principal,
    service_id: int,
    engine: str | None,
    *,
    published: bool,
    idempotency_key: str | None,
) -> Started[OwnedService]:
    """Start publishing (or unpublishing) the named database of a visible service, or all of its databases;
    nothing is started when they already are as asked."""
    owned = await store.load_visible(rt.db, principal, service_id)
    held = owned.row.ports or {}
    engines = [e for e in databases.chosen_engines(owned, engine) if (e in held) != published]
    if not engines:
        return Started(owned, None)
    return await start_operation(
        rt,
        owned,
        kind=PUBLISH if published else UNPUBLISH,
        transitional=None,
        params=PublishParams(service_id=service_id, engines=engines),
        fingerprint={"engines": engines},
        idempotency_key=idempotency_key,
    )


async def allocate(rt: AppRuntime, service_id: int, engines: Sequence[str]) -> dict[str, int]:
    """Reserve a host port for each engine that has none yet and record it in the service's ``ports``; the
    ports of ``engines`` (idempotent: a resumed operation finds the ones it reserved)."""

    async def reserve() -> dict[str, int]:
        async with rt.db.write() as session:
            found = await store.load(session, service_id)
            held = dict(found.row.ports or {}) if found is not None else {}
            missing = [e for e in engines if e not in held]
            if missing:
                held |= await allocate_ports(session, rt.settings.docker, service_id, missing)
                await store.update_service(session, service_id, ports=held)
        return {e: int(held[e]) for e in engines}

    try:
        return await in_transaction_retrying(reserve)
    except ConflictError as exc:  # ports_exhausted, ports_busy: the operation fails with the allocator's answer
        raise OperationFailedError(exc.message, code=exc.code, details=exc.details) from exc


async def release(rt: AppRuntime, service_id: int, engines: Sequence[str]) -> list[str]:
    """Free the host ports of ``engines`` and drop them from the service's ``ports``."""
    async with rt.db.write() as session:
        found = await store.load(session, service_id)
        held = dict(found.row.ports or {}) if found is not None else {}
        await release_ports(session, service_id, list(engines))
        await store.update_service(session, service_id, ports={k: v for k, v in held.items() if k not in engines})
    return list(engines)


async def held_ports(rt: AppRuntime, service_id: int) -> dict[str, int]:
    """The host ports of a service's published databases, as its row records them."""
    async with rt.db.read() as session:
        found = await store.load(session, service_id)
    held = (found.row.ports or {}) if found is not None else {}
    return {e: int(held[e]) for e in DATABASE_PORTS if e in held}


def rewrite_compose(layout: ServiceLayout, templates: Templates, published: Mapping[str, int]) -> list[str]:
    """Make the database services' ``ports`` in the compose file match ``published`` (engine to host port),
    checked by the same policy and schema as a fresh render (``TemplateError`` otherwise); the engines
    published."""
    compose = compose_yaml.load(layout.compose_file.read_text(encoding="utf-8"))
    services = compose.get("services") or {}
    for engine in DATABASE_PORTS:
        if engine not in services:
            continue
        if engine in published:
            services[engine]["ports"] = templates.published(engine, published[engine])
        else:
            services[engine].pop("ports", None)
    check_policy(compose, templates.host_ip())
    validate_compose_schema(compose)
    text = compose_yaml.dump(compose)
    layout.write_files({layout.compose_file.name: text})
    return sorted(e for e in published if e in services)
