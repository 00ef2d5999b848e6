"""The seam between its users and `docker compose`: a Protocol, and the data it returns."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


@dataclass(frozen=True)
class ComposeProject:
    """A compose project: its name (``-p``) and its compose file (``-f``); the file's directory is the project dir."""

    name: str
    compose_file: Path


@dataclass(frozen=True)
class PublishedPort:
    """A container port published on the host."""

    url: str
    target_port: int
    published_port: int
    protocol: str


@dataclass(frozen=True)
class ContainerStatus:
    """One container of a project as `docker compose ps` reports it."""

    name: str
    service: str
    state: str  # created, running, restarting, exited, paused, dead, ...
    health: str  # "", starting, healthy, unhealthy
    exit_code: int
    publishers: tuple[PublishedPort, ...] = field(default=())

    @property
    def is_up(self) -> bool:
        """Running, and healthy if it has a healthcheck."""
        return self.state == "running" and self.health in ("", "healthy")


class ComposeRunner(Protocol):
    """What a caller needs from `docker compose`; ``ComposeClient`` runs it, ``FakeComposeRunner`` fakes it."""

    async def ping(self, timeout_s: float = 4.0) -> None:
        """Return when `docker compose` reaches the Docker Engine; raise a ``ComposeError`` otherwise."""
        ...

    async def config(self, project: ComposeProject) -> dict[str, Any]:
        """Validate and normalise the project's compose file; raises ``ComposeCommandError`` when invalid."""
        ...

    async def up(self, project: ComposeProject, timeout_s: float | None = None, *, recreate: bool = False) -> str:
        """Create and start everything and wait until running/healthy (compose's output); ``recreate`` replaces
        every container."""
        ...

    async def exec(
        self,
        project: ComposeProject,
        service: str,
        command: Sequence[str],
        *,
        stdin: Path | None = None,
        stdout: Path | None = None,
        timeout_s: float | None = None,
    ) -> str:
        """Run ``command`` in the service's running container, stdin from a file and stdout to one (else captured);
        the output it printed."""
        ...

    async def down(self, project: ComposeProject) -> None:
        """Stop and remove containers, networks and volumes of the project."""
        ...

    async def start(self, project: ComposeProject, services: Sequence[str] = ()) -> None:
        """Start stopped containers."""
        ...

    async def stop(self, project: ComposeProject, services: Sequence[str] = ()) -> None:
        """Stop running containers without removing them."""
        ...

    async def restart(self, project: ComposeProject, services: Sequence[str] = ()) -> None:
        """Restart containers."""
        ...

    async def ps(self, project: ComposeProject) -> list[ContainerStatus]:
        """Every container of the project, running or not."""
        ...

    def logs(
        self, project: ComposeProject, *, follow: bool = False, tail: int | None = None, services: Sequence[str] = ()
    ) -> AsyncIterator[str]:
        """Log lines of the project's containers; with ``follow`` the iterator runs until closed."""
        ...
