"""The reverse proxy check: Caddy's admin API answers and holds CloudFaster's server (DESIGN §10)."""

from __future__ import annotations

from cloudfaster.doctor.report import Check
from cloudfaster.proxy.client import CaddyAdmin
from cloudfaster.proxy.config import SERVER
from cloudfaster.proxy.errors import ProxyError
from cloudfaster.settings import ProxySettings


async def proxy_checks(proxy: ProxySettings) -> list[Check]:
    """Whether the configured Caddy answers; a warning when no proxy is configured (services keep their ports)."""
    if not proxy.admin_url:
        return [Check.warning(
            "proxy.caddy", "no reverse proxy is configured: services answer only on their published ports, no https",
            "run Caddy and set CLOUDFASTER_PROXY__ADMIN_URL (e.g. http://127.0.0.1:2019) and __APPS_DOMAIN",
        )]  # fmt: skip
    admin = CaddyAdmin(proxy.admin_url, timeout_s=proxy.timeout_s)
    try:
        config = await admin.config()
    except ProxyError as exc:
        return [Check.failing(
            "proxy.caddy", f"Caddy's admin API at {proxy.admin_url}: {exc.message}",
            "start Caddy (systemctl start caddy) with its admin API there, or fix CLOUDFASTER_PROXY__ADMIN_URL",
        )]  # fmt: skip
    finally:
        await admin.aclose()
    where = f"Caddy's admin API answers at {proxy.admin_url}"
    server = ((config or {}).get("apps") or {}).get("http", {}).get("servers", {}).get(SERVER)
    if not isinstance(server, dict):
        detail = f"{where}; CloudFaster's server is not loaded yet (CloudFaster loads it at start)"
    else:
        detail = f"{where}, CloudFaster's server with {len(server.get('routes') or [])} route(s)"
    return [Check.ok("proxy.caddy", f"{detail}; services are https://<service>-<user>.{proxy.apps_domain}")]
