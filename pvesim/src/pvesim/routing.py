"""Route tables mapping schema endpoints to handler functions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pvesim.auth import Identity
from pvesim.schema import Endpoint

if TYPE_CHECKING:
    from aiohttp import web

    from pvesim.simulator import Simulator


@dataclass
class Reply:
    """A handler result with extra top-level keys next to `data` (e.g. `total`)."""

    data: Any
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Upgrade:
    """A websocket endpoint's result: `data` answers a plain GET, `respond` serves a request with `Upgrade`."""

    data: Any
    respond: Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Call:
    """One validated API call as a handler sees it."""

    sim: Simulator
    endpoint: Endpoint
    params: dict[str, Any]
    identity: Identity | None

    @property
    def node(self) -> str:
        """Return the `{node}` URL parameter."""
        return str(self.params["node"])

    @property
    def vmid(self) -> int:
        """Return the `{vmid}` URL parameter."""
        return int(self.params["vmid"])

    @property
    def user(self) -> str:
        """Return the UPID user of the caller (`root@pam!token` for tokens)."""
        return self.identity.task_user if self.identity else "root@pam"


Handler = Callable[[Call], Any]


class RouteTable:
    """Collects handlers keyed by (method, schema path)."""

    def __init__(self) -> None:
        self.handlers: dict[tuple[str, str], Handler] = {}

    def route(self, method: str, path: str) -> Callable[[Handler], Handler]:
        """Register a handler for a schema endpoint."""

        def register(handler: Handler) -> Handler:
            self.handlers[(method, path)] = handler
            return handler

        return register
