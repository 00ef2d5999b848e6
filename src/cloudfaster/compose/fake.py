"""An in-memory ``ComposeRunner`` for unit tests of its users (no Docker needed)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cloudfaster.compose.errors import ComposeCommandError
from cloudfaster.compose.protocol import ComposeProject, ContainerStatus, PublishedPort


@dataclass
class FakeProject:
    """What the fake remembers about one project."""

    compose: dict[str, Any]
    states: dict[str, str] = field(default_factory=dict)
    logs: list[str] = field(default_factory=list)


class FakeComposeRunner:
    """Keeps projects in memory; ``fail`` makes the next call of a method raise, ``calls`` records every call."""

    def __init__(self) -> None:
        self.projects: dict[str, FakeProject] = {}
        self.calls: list[tuple[str, str]] = []
        self.failures: dict[str, ComposeCommandError] = {}

    def fail(self, method: str, error: ComposeCommandError | None = None) -> None:
        """Make the next call of ``method`` (e.g. ``"up"``) raise ``error``."""
        self.failures[method] = error or ComposeCommandError(f"fake {method} failure", output="injected", returncode=1)

    def _enter(self, method: str, project: ComposeProject) -> None:
        self.calls.append((method, project.name))
        error = self.failures.pop(method, None)
        if error is not None:
            raise error

    def _project(self, project: ComposeProject) -> FakeProject:
        try:
            return self.projects[project.name]
        except KeyError:
            raise ComposeCommandError(f"no such project: {project.name}", returncode=1) from None

    @staticmethod
    def _load(project: ComposeProject) -> dict[str, Any]:
        try:
            compose = yaml.safe_load(project.compose_file.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ComposeCommandError(f"cannot read {project.compose_file}: {exc}", returncode=1) from exc
        if not isinstance(compose, dict) or not isinstance(compose.get("services"), dict):
            raise ComposeCommandError("compose file has no services", returncode=1)
        return compose

    def _targets(self, state: FakeProject, services: Sequence[str]) -> list[str]:
        return list(services) or list(state.states)

    async def ping(self, timeout_s: float = 4.0) -> None:
        """Always reachable, unless a failure was injected."""
        self.calls.append(("ping", ""))
        error = self.failures.pop("ping", None)
        if error is not None:
            raise error

    async def config(self, project: ComposeProject) -> dict[str, Any]:
        """Parse the compose file."""
        self._enter("config", project)
        return self._load(project)

    async def up(self, project: ComposeProject, timeout_s: float | None = None, *, recreate: bool = False) -> str:
        """Mark every service running."""
        self._enter("up", project)
        compose = self._load(project)
        state = self.projects.setdefault(project.name, FakeProject(compose=compose))
        state.compose = compose
        state.states = dict.fromkeys(compose["services"], "running")
        state.logs.append(f"fake: {project.name} up")
        return f"fake: {project.name} up"

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
        """Record the call; a service that is not running fails as Compose does, else nothing is printed."""
        self._enter("exec", project)
        if self._project(project).states.get(service) != "running":
            raise ComposeCommandError(f"service {service!r} is not running", returncode=1)
        if stdout is not None:
            await asyncio.to_thread(stdout.write_bytes, b"")
        return ""

    async def down(self, project: ComposeProject) -> None:
        """Forget the project (a missing project is fine, as with Compose)."""
        self._enter("down", project)
        self.projects.pop(project.name, None)

    async def start(self, project: ComposeProject, services: Sequence[str] = ()) -> None:
        """Mark services running."""
        self._enter("start", project)
        state = self._project(project)
        for name in self._targets(state, services):
            state.states[name] = "running"

    async def stop(self, project: ComposeProject, services: Sequence[str] = ()) -> None:
        """Mark services exited."""
        self._enter("stop", project)
        state = self._project(project)
        for name in self._targets(state, services):
            state.states[name] = "exited"

    async def restart(self, project: ComposeProject, services: Sequence[str] = ()) -> None:
        """Mark services running."""
        self._enter("restart", project)
        state = self._project(project)
        for name in self._targets(state, services):
            state.states[name] = "running"

    async def ps(self, project: ComposeProject) -> list[ContainerStatus]:
        """One container per service, with the published ports from the compose file."""
        self._enter("ps", project)
        state = self.projects.get(project.name)
        if state is None:
            return []
        result = []
        for name, status in sorted(state.states.items()):
            publishers = []
            for spec in state.compose["services"][name].get("ports", []):
                host_ip, published, target = str(spec).rsplit(":", 2)
                publishers.append(PublishedPort(host_ip.strip("[]"), int(target), int(published), "tcp"))
            health = "healthy" if status == "running" else ""
            result.append(
                ContainerStatus(
                    name=f"{project.name}-{name}-1",
                    service=name,
                    state=status,
                    health=health,
                    exit_code=0,
                    publishers=tuple(publishers),
                )
            )
        return result

    async def logs(
        self, project: ComposeProject, *, follow: bool = False, tail: int | None = None, services: Sequence[str] = ()
    ) -> AsyncIterator[str]:
        """The recorded log lines (``follow`` ends after them too)."""
        self._enter("logs", project)
        lines = self._project(project).logs
        for line in lines[-tail:] if tail else lines:
            yield line
