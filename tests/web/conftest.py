"""One CloudFaster for the dashboard tests, served by uvicorn on 127.0.0.1: pvesim behind its VMs, the real Docker
Engine behind its services (own namespace and base path), SQLite; every compose project it made is removed."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from pvesim.testing import start_pvesim

from cloudfaster.api.app import create_app
from tests.apps.support import remove_projects
from tests.support.app import ADMIN_KEY, make_settings, served
from tests.vms.conftest import proxmox_settings, sim_config


@dataclass
class Dashboard:
    """The served instance: its base URL and an admin client for setting things up."""

    url: str
    admin: httpx.Client

    def new_user(self, userid: str) -> str:
        """Register a user and return a key for them."""
        assert self.admin.post("/users", json={"userid": userid, "username": userid.title()}).status_code == 201
        resp = self.admin.post("/keys", json={"userid": userid, "name": "browser test"})
        assert resp.status_code == 201, resp.text
        key: str = resp.json()["key"]
        return key


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    """CloudFaster with pvesim and Docker, for the whole module."""
    tmp = tmp_path_factory.mktemp("dashboard")
    namespace = "w" + secrets.token_hex(4) + "-"
    config = sim_config()
    config.task_durations["qmclone"] = 3.0  # long enough to see a VM "creating" on the list before it is enabled
    with start_pvesim(config) as sim:
        settings = make_settings(
            tmp,
            f"sqlite+aiosqlite:///{tmp}/cf.db",
            proxmox=proxmox_settings(sim),
            docker={"base_path": tmp / "services", "project_namespace": namespace, "healthcheck_interval_s": 0.5},
        )
        app = create_app(settings, configure_logs=False)
        # The live log view needs records: the hub is attached as configure_logging would, without its files.
        tree = logging.getLogger("cloudfaster")
        level = tree.level
        tree.addHandler(app.state.cf.hub)
        tree.setLevel(logging.INFO)
        try:
            with served(app) as url, httpx.Client(base_url=url, headers={"X-API-Key": ADMIN_KEY}, timeout=30) as admin:
                yield Dashboard(url=url, admin=admin)
        finally:
            tree.removeHandler(app.state.cf.hub)
            tree.setLevel(level)
            remove_projects("cf-" + namespace)
