"""A CloudFaster app that routes through a real Caddy of the test's own (admin API and listeners on 127.0.0.1)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from cloudfaster.proxy.process import CaddyProcess
from cloudfaster.settings import ProxySettings, Settings
from tests.apps.conftest import service_settings
from tests.compose.support import free_port
from tests.proxy.support import start_caddy

APPS_DOMAIN = "apps.test"


@dataclass
class Rig:
    """The test's Caddy and the settings of a CloudFaster that routes through it."""

    caddy: CaddyProcess
    settings: Settings
    https_port: int
    http_port: int

    def restart_caddy(self) -> None:
        """SIGKILL Caddy and start a new one from scratch (no --resume), on the same admin address."""
        self.caddy.kill()
        self.caddy = CaddyProcess(self.caddy.home, self.caddy.admin_listen, binary=self.caddy.binary)
        self.caddy.start()


@asynccontextmanager
async def routing_rig(tmp_path: Path, database_url: str, ca_file: Path) -> AsyncIterator[Rig]:
    """Caddy running, and settings with routing on (internal CA, fast reconcile and domain checks)."""
    caddy = start_caddy(tmp_path / "caddy")
    https, http = free_port(), free_port()
    proxy = ProxySettings(
        admin_url=caddy.admin_url,
        apps_domain=APPS_DOMAIN,
        listen_host="127.0.0.1",
        https_port=https,
        http_port=http,
        tls="internal",
        reconcile_interval_s=0.5,
        domain_check_interval_s=0.3,
        sandbox=False,
    )
    settings = service_settings(tmp_path, database_url, ca_file).model_copy(update={"proxy": proxy})
    rig = Rig(caddy, settings, https, http)
    try:
        yield rig
    finally:
        rig.caddy.kill()
