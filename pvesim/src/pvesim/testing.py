"""Run pvesim in a background thread for tests: `with start_pvesim() as sim: sim.proxmox()`.

Built on `pvesim.embed`; adds the test API: proxmoxer clients (needs `pvesim[testing]`), live cluster state,
fault switches and task durations changed at run time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pvesim.cluster import Cluster
from pvesim.config import SimConfig
from pvesim.embed import serve_in_thread
from pvesim.faults import Faults
from pvesim.screen import render_console
from pvesim.simulator import Simulator

if TYPE_CHECKING:
    from PIL import Image

T = TypeVar("T")


class PveSim:
    """A running simulator: address, credentials, live state and fault switches."""

    def __init__(self, sim: Simulator, host: str, port: int, loop: asyncio.AbstractEventLoop) -> None:
        self.simulator = sim
        self.host = host
        self.port = port
        self.loop = loop

    @property
    def ca_file(self) -> Path:
        """Return the PEM file a client verifies the server certificate against."""
        return self.simulator.tls.ca_file

    @property
    def token_id(self) -> str:
        """Return the first API token id, e.g. `root@pam!cloudfaster`."""
        return self.simulator.config.tokens[0].token_id

    @property
    def token_secret(self) -> str:
        """Return the first API token's secret."""
        return self.simulator.config.tokens[0].secret

    @property
    def root_password(self) -> str:
        """Return root@pam's password for ticket logins."""
        return self.simulator.config.root_password

    @property
    def base_url(self) -> str:
        """Return `https://host:port`."""
        return f"https://{self.host}:{self.port}"

    @property
    def cluster(self) -> Cluster:
        """Return the live cluster state (read it freely; mutate it through `call`)."""
        return self.simulator.cluster

    @property
    def faults(self) -> Faults:
        """Return the fault switches."""
        return self.simulator.faults

    @property
    def config(self) -> SimConfig:
        """Return the configuration in use."""
        return self.simulator.config

    def set_task_duration(self, kind: str, seconds: float) -> None:
        """Set how long tasks of a type (e.g. `qmclone`) run; 0 finishes them within the request."""
        if seconds < 0:
            raise ValueError("task duration must not be negative")
        self.simulator.config.task_durations[kind] = seconds

    def call(self, func: Callable[[], T]) -> T:
        """Run `func` on the server's event loop (to mutate state safely) and return its result."""

        async def run() -> T:
            return func()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout=30)

    def expected_console(self, vmid: int) -> Image.Image:
        """Return the framebuffer VM `vmid`'s VNC console shows (RGB), to compare a client's pixels with."""
        return expected_console(self.call(lambda: self.cluster.vms[vmid].name), vmid)

    def proxmox(self, node: str | None = None, **kwargs: Any) -> Any:
        """Return a proxmoxer ProxmoxAPI over HTTPS with certificate verification and token auth."""
        from proxmoxer import ProxmoxAPI

        user, token_name = self.token_id.split("!", 1)
        options: dict[str, Any] = {
            "user": user,
            "token_name": token_name,
            "token_value": self.token_secret,
            "verify_ssl": str(self.ca_file),
            "timeout": 10,
        }
        options.update(kwargs)
        if "password" in kwargs:
            options.pop("token_name")
            options.pop("token_value")
        return ProxmoxAPI(f"{self.host}:{self.port}", **options)


def expected_console(name: str, vmid: int) -> Image.Image:
    """Return the framebuffer of the VNC console of VM `vmid` named `name` (RGB, a copy)."""
    return render_console(name, vmid).copy()


@contextmanager
def start_pvesim(
    config: SimConfig | None = None,
    state_file: Path | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
) -> Iterator[PveSim]:
    """Start pvesim on 127.0.0.1 and a free port in a background thread; stop it on exit.

    Without a config the default cluster (sv1…sv5) runs with zero-length tasks and no 401 delay.
    """
    with serve_in_thread(config if config is not None else SimConfig.fast(), state_file, host=host, port=port) as run:
        yield PveSim(run.simulator, run.host, run.port, run.loop)


__all__ = ["PveSim", "expected_console", "start_pvesim"]
