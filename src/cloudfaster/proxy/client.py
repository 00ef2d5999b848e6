"""Caddy's admin API over HTTP (httpx): load the base config, put and remove routes by ``@id``, list them.

Caddy applies every change gracefully: live connections are not dropped when the config changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from cloudfaster.proxy.config import SERVER, BaseConfig, Route
from cloudfaster.proxy.errors import ProxyRequestError, ProxyUnavailableError

if TYPE_CHECKING:
    import httpx

ROUTES = f"/config/apps/http/servers/{SERVER}/routes"


def admin_listen(admin_url: str) -> str:
    """The ``host:port`` an admin URL names (what the base config's admin listener must keep)."""
    parts = urlsplit(admin_url)
    if parts.scheme != "http" or not parts.hostname or parts.port is None:
        raise ValueError(f"the admin URL must look like http://127.0.0.1:2019, not {admin_url!r}")
    return parts.netloc


class CaddyAdmin:
    """One Caddy instance's admin API; every method is one or two requests and raises ``ProxyError``."""

    def __init__(self, admin_url: str, *, timeout_s: float = 5.0) -> None:
        admin_listen(admin_url)  # fail early on a malformed URL
        import httpx  # loaded only where a proxy is configured (httpx and its CLI's imports: 2 MB resident)

        self._http = httpx.AsyncClient(base_url=admin_url, timeout=timeout_s, trust_env=False)

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._http.aclose()

    async def _request(self, method: str, path: str, body: Any = None) -> httpx.Response | None:
        """One admin request: the response, None for a 404 (an unknown ``@id`` or path), else ``ProxyError``."""
        import httpx

        try:
            resp = await self._http.request(method, path, json=body)
        except httpx.TransportError as exc:
            raise ProxyUnavailableError(f"Caddy's admin API does not answer: {type(exc).__name__}") from exc
        if resp.status_code == 404:
            return None
        if resp.status_code >= 400:
            try:
                error = str(resp.json().get("error", ""))
            except ValueError:
                error = resp.text[:200]
            raise ProxyRequestError(method, path, resp.status_code, error)
        return resp

    async def _json(self, path: str) -> Any:
        resp = await self._request("GET", path)
        return resp.json() if resp is not None and resp.content else None

    async def config(self) -> Any:
        """The whole running config (``None`` when Caddy runs without one)."""
        return await self._json("/config/")

    async def load(self, base: BaseConfig, routes: Sequence[Route] = ()) -> None:
        """Replace the whole config with ``base`` holding ``routes``."""
        if await self._request("POST", "/load", base.to_json(routes)) is None:
            raise ProxyRequestError("POST", "/load", 404, "no /load endpoint")

    async def routes(self) -> list[dict[str, Any]]:
        """Every route of our server, in order (empty if the server is not there)."""
        found = await self._json(ROUTES)
        return [r for r in found if isinstance(r, dict)] if isinstance(found, list) else []

    async def get(self, route_id: str) -> dict[str, Any] | None:
        """The route with ``@id`` ``route_id``, or None."""
        found = await self._json(_id_path(route_id))
        return found if isinstance(found, dict) else None

    async def put(self, route: Route) -> None:
        """Add ``route``, or replace the one with its ``@id`` in place: never a second route with that id (Caddy
        2.6.2 accepts duplicate ids, test-rig-2.md §4), so look first."""
        if await self.get(route.id) is None:
            if await self._request("POST", ROUTES, route.to_json()) is None:
                raise ProxyRequestError("POST", ROUTES, 404, "the HTTPS server is not loaded")
        elif await self._request("PATCH", _id_path(route.id), route.to_json()) is None:
            await self.put(route)  # removed in between: add it

    async def remove(self, route_id: str) -> bool:
        """Remove the route with ``@id`` ``route_id``; False if there was none."""
        return await self._request("DELETE", _id_path(route_id)) is not None

    async def ping(self) -> None:
        """Raise ``ProxyError`` unless the admin API answers."""
        await self._request("GET", "/config/")


def _id_path(route_id: str) -> str:
    return f"/id/{quote(route_id, safe='')}"
