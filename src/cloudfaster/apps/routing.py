"""Routes through the reverse proxy: every routed service gets ``https://<service>-<user>.<apps domain>`` and
``https://files-<service>-<user>.<apps domain>`` (plus its active custom domains), proxied to its published ports.

CloudFaster is the source of truth: ``sync`` asserts one service's routes when its status changes, and
``reconcile`` (every few seconds in worker processes) loads the base config into a Caddy that lost it and fixes
routes in both directions, so a restarted Caddy or CloudFaster has every route back within seconds.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from cloudfaster.apps import store
from cloudfaster.apps.hostnames import app_label, files_label
from cloudfaster.apps.store import OwnedService
from cloudfaster.db.engine import Database
from cloudfaster.db.models import ServiceDomain
from cloudfaster.proxy.client import CaddyAdmin, admin_listen
from cloudfaster.proxy.config import SERVER, BaseConfig, Route, TlsMode
from cloudfaster.proxy.errors import ProxyError

log = logging.getLogger("cloudfaster.apps.routing")

Resolver = Callable[[str], Awaitable[set[str]]]
ROUTE_KINDS = ("app", "files")


async def resolve(hostname: str) -> set[str]:
    """The addresses ``hostname`` resolves to (empty when it does not resolve)."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(hostname, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return set()
    return {str(info[4][0]) for info in infos}


@dataclass(frozen=True)
class ProxyConfig:
    """The proxy as CloudFaster uses it, in plain values (from ``ProxySettings``, or the sandbox's Caddy)."""

    admin_url: str
    apps_domain: str
    listen_host: str
    https_port: int
    http_port: int
    tls: TlsMode
    acme_email: str | None = None
    public_addresses: tuple[str, ...] = ()
    upstream_host: str = "127.0.0.1"  # where the services' published ports are reached
    namespace: str = ""  # the Docker project namespace: route ids are cf-<namespace><service id>-<kind>
    sandbox: bool = False

    def base(self) -> BaseConfig:
        """The base config to load into Caddy."""
        host = f"[{self.listen_host}]" if ":" in self.listen_host else self.listen_host
        return BaseConfig(
            admin_listen=admin_listen(self.admin_url),
            https_listen=f"{host}:{self.https_port}",
            http_port=self.http_port,
            tls=self.tls,
            acme_email=self.acme_email,
        )

    def url(self, hostname: str) -> str:
        """The https URL of a name."""
        port = "" if self.https_port == 443 else f":{self.https_port}"
        return f"https://{hostname}{port}/"


def upstream_host(bind_address: str) -> str:
    """Where the proxy dials a port published on ``bind_address`` (an unspecified address means loopback)."""
    address = ipaddress.ip_address(bind_address)
    if address.is_unspecified:
        return "127.0.0.1" if address.version == 4 else "[::1]"
    return f"[{address}]" if address.version == 6 else str(address)


@dataclass
class RouteDrift:
    """What one reconcile pass found and fixed."""

    loaded: bool = False  # Caddy had lost (or never had) the base config
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Whether the pass changed anything."""
        return self.loaded or bool(self.added or self.removed)


class Routing:
    """The routes of every service in one Caddy."""

    def __init__(self, config: ProxyConfig, db: Database, *, resolver: Resolver = resolve) -> None:
        self.config = config
        self.db = db
        self.resolver = resolver
        self.admin = CaddyAdmin(config.admin_url)
        self._base = config.base()
        self._ours = re.compile(rf"cf-{re.escape(config.namespace)}(\d+)-(app|files)")
        self._lock = asyncio.Lock()  # one change to Caddy at a time from this process

    def hostnames(self, owned: OwnedService) -> dict[str, str]:
        """The default names of a service, by route kind."""
        service, user, domain = owned.row.service_name, owned.userid, self.config.apps_domain
        return {"app": f"{app_label(service, user)}.{domain}", "files": f"{files_label(service, user)}.{domain}"}

    def urls(self, owned: OwnedService) -> dict[str, str]:
        """The https URLs of a service's app and Filebrowser (those it has ports for)."""
        ports = owned.row.ports or {}
        return {kind: self.config.url(name) for kind, name in self.hostnames(owned).items() if kind in ports}

    def route_id(self, service_id: int, kind: str) -> str:
        """The ``@id`` of one of a service's routes."""
        return f"cf-{self.config.namespace}{service_id}-{kind}"

    def routes_of(self, owned: OwnedService, domains: list[ServiceDomain]) -> list[Route]:
        """The routes a service should have: its default names, its active custom domains on the app."""
        ports = owned.row.ports or {}
        names = self.hostnames(owned)
        custom = tuple(d.hostname for d in domains if d.status == "active")
        routes = []
        for kind in ROUTE_KINDS:
            if kind in ports:
                hosts = (names[kind], *custom) if kind == "app" else (names[kind],)
                upstream = f"{self.config.upstream_host}:{int(ports[kind])}"
                routes.append(Route(self.route_id(owned.row.id, kind), hosts, upstream))
        return routes

    async def desired(self) -> dict[str, Route]:
        """Every route CloudFaster wants, by ``@id``, from the database."""
        async with self.db.read() as session:
            services = await store.routed_services(session)
            domains = await store.domains_of(session, [s.row.id for s in services])
        return {r.id: r for owned in services for r in self.routes_of(owned, domains[owned.row.id])}

    async def sync(self, service_id: int) -> None:
        """Put or remove one service's routes as its status and domains say (raises ``ProxyError``)."""
        async with self.db.read() as session:
            owned = await store.load(session, service_id)
            routed = owned is not None and owned.row.id in {s.row.id for s in await store.routed_services(session)}
            domains = await store.domains_of(session, [service_id])
        wanted = {r.id: r for r in self.routes_of(owned, domains[service_id])} if owned and routed else {}
        async with self._lock:
            for kind in ROUTE_KINDS:
                route_id = self.route_id(service_id, kind)
                if route_id in wanted:
                    await self.admin.put(wanted[route_id])
                else:
                    while await self.admin.remove(route_id):  # duplicates too
                        pass

    async def sync_quietly(self, service_id: int) -> None:
        """``sync``, logging instead of raising: the next reconcile pass retries."""
        try:
            await self.sync(service_id)
        except ProxyError as exc:
            log.warning("routes of service %s not updated (the reconcile pass retries): %s", service_id, exc)

    async def reconcile(self) -> RouteDrift:
        """One pass: load the base config if Caddy lacks it, then add, fix and remove routes to match ours."""
        drift = RouteDrift()
        desired = await self.desired()
        async with self._lock:
            loaded = await self.admin.config()
            if not self._base.matches(loaded):
                await self.admin.load(self._base, list(desired.values()))
                drift.loaded, drift.added = True, sorted(desired)
                return drift
            actual: dict[str, list[Any]] = {}
            for route in loaded["apps"]["http"]["servers"][SERVER].get("routes") or []:
                route_id = route.get("@id") if isinstance(route, dict) else None
                if isinstance(route_id, str) and self._ours.fullmatch(route_id):
                    actual.setdefault(route_id, []).append(route)
            for route_id, route in desired.items():
                if actual.get(route_id) != [route.to_json()]:
                    while len(actual.get(route_id, [])) > 1 and await self.admin.remove(route_id):
                        actual[route_id].pop()
                    await self.admin.put(route)
                    drift.added.append(route_id)
            for route_id in sorted(set(actual) - set(desired)):
                while await self.admin.remove(route_id):
                    pass
                drift.removed.append(route_id)
        return drift

    async def check_domains(self) -> list[str]:
        """Activate the pending custom domains that now resolve to the proxy; their routes go live."""
        async with self.db.read() as session:
            pending = await store.pending_domains(session)
        activated = []
        for domain in pending:
            active = await self.resolves_to_proxy(domain.hostname, domain.service_id)
            async with self.db.write() as session:
                await store.mark_domain(session, domain.id, active=active)
            if active:
                activated.append(domain.hostname)
                await self.sync_quietly(domain.service_id)
        return activated

    async def resolves_to_proxy(self, hostname: str, service_id: int) -> bool:
        """Whether ``hostname`` resolves to one of the proxy's addresses: the configured public ones, else those
        the service's default name resolves to (so a CNAME to it counts)."""
        found = await self.resolver(hostname)
        ours = set(self.config.public_addresses)
        if not ours:
            async with self.db.read() as session:
                owned = await store.load(session, service_id)
            if owned is not None:
                ours = await self.resolver(self.hostnames(owned)["app"])
        return bool(found & ours)

    async def probe(self) -> dict[str, Any]:
        """Whether Caddy's admin API answers (reported by /readyz)."""
        result: dict[str, Any] = {"apps_domain": self.config.apps_domain, "sandbox": self.config.sandbox}
        try:
            await self.admin.ping()
        except ProxyError as exc:
            return {**result, "ok": False, "error": exc.message}
        return {**result, "ok": True}

    async def aclose(self) -> None:
        """Close the admin API's connections."""
        await self.admin.aclose()
