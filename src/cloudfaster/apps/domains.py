"""Custom domains of a service: add (answering which DNS record to create), remove, list. A domain is ``pending``
until it resolves to the proxy (the worker checks, ``Routing.check_domains``); then its route goes live and its
certificate comes from the configured issuer."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError

from cloudfaster.apps import store
from cloudfaster.apps.hostnames import is_hostname
from cloudfaster.apps.routing import Routing
from cloudfaster.apps.runtime import AppRuntime
from cloudfaster.apps.status import DELETED, DELETING
from cloudfaster.core.errors import ConflictError, NotFoundError, ValidationFailedError
from cloudfaster.core.principal import Principal
from cloudfaster.db.models import ServiceDomain


@dataclass(frozen=True)
class DnsRecord:
    """One DNS record the owner of a domain creates."""

    type: str
    name: str
    value: str


@dataclass(frozen=True)
class Domain:
    """A custom domain with the records that make it resolve to the proxy: A/AAAA to the proxy's public addresses
    (when configured), or a CNAME to the service's default name (``cname``; not possible at a zone's apex)."""

    hostname: str
    status: str
    records: list[DnsRecord]
    cname: DnsRecord
    active_at: datetime | None


def _routing(rt: AppRuntime) -> Routing:
    if rt.routing is None:
        raise ConflictError(
            "routing is off: no reverse proxy is configured (CLOUDFASTER_PROXY__ADMIN_URL)", code="routing_disabled"
        )
    return rt.routing


def normalise(hostname: str) -> str:
    """The lowercase ASCII form of a domain name (IDNA for international names); 422 if it is not one."""
    name = hostname.strip().rstrip(".").lower()
    try:
        name = name.encode("idna").decode("ascii")
        ipaddress.ip_address(name)
    except UnicodeError:
        name = ""
    except ValueError:
        pass
    else:
        name = ""
    if not is_hostname(name):
        raise ValidationFailedError(
            "hostname must be a domain name such as www.example.org (no IP address, port, path or wildcard)",
            code="domain_invalid",
            details={"hostname": hostname[:300]},
        )
    return name


def _view(routing: Routing, row: ServiceDomain, default_name: str) -> Domain:
    records = []
    for address in routing.config.public_addresses:
        kind = "AAAA" if ipaddress.ip_address(address).version == 6 else "A"
        records.append(DnsRecord(kind, row.hostname, address))
    cname = DnsRecord("CNAME", row.hostname, default_name)
    return Domain(row.hostname, row.status, records or [cname], cname, row.active_at)


async def list_domains(rt: AppRuntime, principal: Principal, service_id: int) -> list[Domain]:
    """A visible service's custom domains, oldest first."""
    routing = _routing(rt)
    owned = await store.load_visible(rt.db, principal, service_id)
    async with rt.db.read() as session:
        rows = (await store.domains_of(session, [service_id]))[service_id]
    return [_view(routing, row, routing.hostnames(owned)["app"]) for row in rows]


async def add(rt: AppRuntime, principal: Principal, service_id: int, hostname: str) -> Domain:
    """Add a custom domain (``pending``): 422 if it is not a domain or lies under the apps domain, 409 if another
    service has it or the service has its most."""
    routing = _routing(rt)
    name = normalise(hostname)
    apps_domain = routing.config.apps_domain
    if name == apps_domain or name.endswith("." + apps_domain):
        raise ValidationFailedError(
            f"names under {apps_domain} are the services' own", code="domain_reserved", details={"hostname": name}
        )
    owned = await store.load_visible(rt.db, principal, service_id)
    if owned.row.status in (DELETED, DELETING):
        raise ConflictError(f"service {service_id} is {owned.row.status}", code="service_state")
    limit = rt.settings.proxy.max_domains_per_service
    try:
        async with rt.db.write() as session:
            existing = await store.domain(session, name)
            if existing is not None:
                if existing.service_id == service_id:
                    return _view(routing, existing, routing.hostnames(owned)["app"])
                raise _taken(name)
            if len((await store.domains_of(session, [service_id]))[service_id]) >= limit:
                raise ConflictError(
                    f"a service has at most {limit} custom domains", code="domain_limit", details={"limit": limit}
                )
            row = store.add_domain(session, service_id, name)
            await session.flush()
    except IntegrityError as exc:  # the same name added for another service at the same moment
        raise _taken(name) from exc
    return _view(routing, row, routing.hostnames(owned)["app"])


def _taken(name: str) -> ConflictError:
    return ConflictError(f"{name} is already a domain of another service", code="domain_taken")


async def remove(rt: AppRuntime, principal: Principal, service_id: int, hostname: str) -> None:
    """Remove a custom domain; its route goes at once (404 if the service does not have it)."""
    routing = _routing(rt)
    name = normalise(hostname)
    await store.load_visible(rt.db, principal, service_id)
    async with rt.db.write() as session:
        removed = await store.remove_domains(session, service_id, name)
    if not removed:
        raise NotFoundError(f"{name} is not a domain of service {service_id}", code="domain_not_found")
    await routing.sync_quietly(service_id)
