"""Caddy JSON built from plain values: the base config CloudFaster loads once, and one reverse-proxy route."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

TlsMode = Literal["acme", "internal"]
SERVER = "cloudfaster"  # the name of our HTTPS server in apps.http.servers


@dataclass(frozen=True)
class Route:
    """Requests for ``hosts`` go to ``upstream`` (``host:port``); ``id`` is the route's ``@id``."""

    id: str
    hosts: tuple[str, ...]
    upstream: str

    def to_json(self) -> dict[str, Any]:
        """The route as Caddy stores it."""
        return {
            "@id": self.id,
            "match": [{"host": list(self.hosts)}],
            "handle": [{"handler": "reverse_proxy", "upstreams": [{"dial": self.upstream}]}],
            "terminal": True,
        }


@dataclass(frozen=True)
class BaseConfig:
    """The whole Caddy config but the routes: admin listener, one HTTPS server, the http→https redirects on
    ``http_port`` and certificate automation (ACME, or Caddy's internal CA)."""

    admin_listen: str  # host:port of the admin API, as its URL names it (Caddy refuses other Host headers)
    https_listen: str  # e.g. ":443" or "127.0.0.1:18443"
    http_port: int
    tls: TlsMode
    acme_email: str | None = None
    # Extra names certificates are made for without a route (e.g. "127.0.0.1" for clients that send an IP as SNI).
    automate: Sequence[str] = field(default_factory=tuple)

    def issuer(self) -> dict[str, Any]:
        """The certificate issuer."""
        if self.tls == "internal":
            return {"module": "internal"}
        issuer: dict[str, Any] = {"module": "acme"}
        if self.acme_email:
            issuer["email"] = self.acme_email
        return issuer

    def to_json(self, routes: Sequence[Route] = ()) -> dict[str, Any]:
        """The config to load, holding ``routes``."""
        tls: dict[str, Any] = {"automation": {"policies": [{"issuers": [self.issuer()]}]}}
        if self.automate:
            tls["certificates"] = {"automate": list(self.automate)}
        return {
            # persist=false: CloudFaster re-asserts the routes after a restart; Caddy's autosave is not relied on.
            "admin": {"listen": self.admin_listen, "config": {"persist": False}},
            "logging": {"logs": {"default": {"level": "WARN"}}},
            "apps": {
                # install_trust=false: the internal CA never writes itself into the system trust store.
                "pki": {"certificate_authorities": {"local": {"install_trust": False}}},
                "tls": tls,
                # https_port stays at its default: Caddy leaves the port out of redirects when it equals
                # https_port, so a listener on another port would get redirects without it (test-rig-2.md §4).
                "http": {
                    "http_port": self.http_port,
                    "servers": {SERVER: {"listen": [self.https_listen], "routes": [r.to_json() for r in routes]}},
                },
            },
        }

    def matches(self, loaded: Any) -> bool:
        """Whether a config read back from Caddy is this base config (whatever its routes)."""
        if not isinstance(loaded, dict):
            return False
        try:
            server = dict(loaded["apps"]["http"]["servers"][SERVER])
        except (KeyError, TypeError):
            return False
        server["routes"] = []
        apps = {**loaded["apps"], "http": {**loaded["apps"]["http"], "servers": {SERVER: server}}}
        return {**loaded, "apps": apps} == self.to_json()
