"""Which proxy the Docker half routes through: the configured Caddy, a local Caddy the sandbox starts, or none."""

from __future__ import annotations

import asyncio
import logging
import socket

from cloudfaster.apps.routing import ProxyConfig, upstream_host
from cloudfaster.logs.banner import banner
from cloudfaster.proxy.process import CaddyProcess, caddy_binary
from cloudfaster.settings import Settings

log = logging.getLogger("cloudfaster.apps.proxy")

SANDBOX_HTTPS_PORT, SANDBOX_HTTP_PORT = 9443, 9080  # unprivileged stand-ins for 443 and 80
SANDBOX_DOMAIN = "localhost"  # *.localhost resolves to loopback in browsers and curl


def proxy_sandbox_wanted(settings: Settings) -> bool:
    """Whether to start a local Caddy: forced by ``proxy.sandbox``, else when neither a proxy nor a Proxmox node
    is configured (the sandbox)."""
    proxy = settings.proxy
    if proxy.sandbox is not None:
        return proxy.sandbox
    return proxy.admin_url is None and settings.proxmox.use_sandbox


def configured_proxy(settings: Settings, *, admin_url: str | None = None, sandbox: bool = False) -> ProxyConfig:
    """The proxy config from the settings (``admin_url`` given: the sandbox's Caddy, on loopback ports)."""
    proxy = settings.proxy
    https_port, http_port, listen = proxy.https_port, proxy.http_port, proxy.listen_host
    if sandbox:
        https_port = SANDBOX_HTTPS_PORT if https_port == 443 else https_port
        http_port = SANDBOX_HTTP_PORT if http_port == 80 else http_port
        listen = "127.0.0.1"
    url = admin_url or proxy.admin_url
    if url is None:
        raise ValueError("no proxy admin URL")
    return ProxyConfig(
        admin_url=url,
        apps_domain=proxy.apps_domain or SANDBOX_DOMAIN,
        listen_host=listen,
        https_port=https_port,
        http_port=http_port,
        tls="internal" if sandbox else proxy.tls,
        acme_email=proxy.acme_email,
        public_addresses=tuple(str(a) for a in proxy.public_addresses),
        upstream_host=upstream_host(settings.docker.bind_address),
        namespace=settings.docker.project_namespace,
        sandbox=sandbox,
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ProxySandbox:
    """A local Caddy under ``<data dir>/caddy`` with its admin API on a free loopback port."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.process: CaddyProcess | None = None

    async def start(self) -> ProxyConfig | None:
        """Start Caddy and return its config; None (and say so) when Caddy is not installed or fails to start."""
        if caddy_binary() is None:
            log.warning(
                "Caddy is not installed, so services keep their http://127.0.0.1:<port> URLs "
                "(apt-get install caddy for https names in the sandbox)"
            )
            return None
        process = CaddyProcess(self.settings.data_dir.resolve() / "caddy", f"127.0.0.1:{_free_port()}")
        try:
            await asyncio.to_thread(process.start)
        except (OSError, RuntimeError) as exc:
            log.warning("the sandbox's Caddy did not start (%s): services keep their 127.0.0.1 URLs", exc)
            return None
        self.process = process
        config = configured_proxy(self.settings, admin_url=process.admin_url, sandbox=True)
        _announce(config, process)
        return config

    async def stop(self) -> None:
        """Stop the sandbox's Caddy."""
        process, self.process = self.process, None
        if process is not None:
            await asyncio.to_thread(process.stop)


def _announce(config: ProxyConfig, process: CaddyProcess) -> None:
    message = (
        f"No reverse proxy is configured, so CloudFaster started a local Caddy (admin API {config.admin_url}): "
        f"services are at {config.url('<service>-<user>.' + config.apps_domain)} with certificates from Caddy's "
        f"internal CA ({process.root_ca}). Configure CLOUDFASTER_PROXY__ADMIN_URL and __APPS_DOMAIN for real names."
    )
    log.warning("PROXY SANDBOX: %s", message)
    banner(message, title="CloudFaster: PROXY SANDBOX")
