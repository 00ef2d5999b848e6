"""The Docker half's wired-up parts (``AppRuntime``), and what its operations share: compose calls with their
errors mapped, `up` that explains its failures, waiting until the containers are up, and the readiness probe."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from cloudfaster.apps import store
from cloudfaster.apps.builder import ComposeBuilder, service_urls
from cloudfaster.apps.config import git_limits, template_config, zip_limits
from cloudfaster.apps.errors import operation_error
from cloudfaster.apps.git_intake import GitLimits
from cloudfaster.apps.routing import Routing
from cloudfaster.apps.store import OwnedService
from cloudfaster.apps.zip_intake import ZipLimits
from cloudfaster.compose.client import ComposeClient
from cloudfaster.compose.errors import ComposeCommandError, ComposeError, ComposeTimeoutError
from cloudfaster.compose.protocol import ComposeProject, ComposeRunner, ContainerStatus
from cloudfaster.core.polling import poll_until
from cloudfaster.core.runner.kinds import OperationFailedError
from cloudfaster.core.runner.runner import OperationRunner
from cloudfaster.db.engine import Database
from cloudfaster.settings import Settings

T = TypeVar("T")
POLL_S = 0.5
PROBE_TIMEOUT_S = 4.0
FAILURE_LOG_LINES = 50
ONE_SHOT_SERVICES = frozenset({"build"})  # React's build container exits 0 when done


@dataclass
class AppRuntime:
    """The parts every service operation and route works with."""

    settings: Settings
    db: Database
    compose: ComposeRunner
    builder: ComposeBuilder
    runner: OperationRunner
    zip_limits: ZipLimits
    git_limits: GitLimits
    routing: Routing | None = None  # the reverse proxy, when one is configured (or the sandbox started one)

    async def owned(self, service_id: int) -> OwnedService:
        """The service an operation works on; gone means the operation cannot go on."""
        async with self.db.read() as session:
            found = await store.load(session, service_id)
        if found is None:
            raise OperationFailedError(f"service {service_id} does not exist", code="service_missing")
        return found

    async def set_status(self, service_id: int, status: str, **fields: Any) -> None:
        """``store.set_status`` in a transaction of its own; then the service's routes follow its new status."""
        async with self.db.write() as session:
            await store.set_status(session, service_id, status, **fields)
        if self.routing is not None:
            await self.routing.sync_quietly(service_id)

    def urls_of(self, owned: OwnedService) -> dict[str, str]:
        """A service's public URLs: its https names through the proxy, else its published ports."""
        if self.routing is not None:
            return self.routing.urls(owned)
        return service_urls(self.settings.docker.public_base_url, owned.row.ports or {})


def build_runtime(
    settings: Settings, db: Database, runner: OperationRunner, *, compose: ComposeRunner | None = None
) -> AppRuntime:
    """The runtime from the settings: the `docker compose` client (unless given), the builder and the intake
    limits, each given the plain values it takes."""
    docker = settings.docker
    client = compose or ComposeClient(
        docker.compose_command, docker_host=docker.docker_host, up_timeout_s=docker.up_timeout_s
    )
    return AppRuntime(
        settings=settings,
        db=db,
        compose=client,
        builder=ComposeBuilder(template_config(docker)),
        runner=runner,
        zip_limits=zip_limits(docker),
        git_limits=git_limits(docker),
    )


async def docker_probe(rt: AppRuntime) -> dict[str, Any]:
    """Whether `docker compose` reaches the Docker Engine (reported by /readyz, not required for readiness)."""
    try:
        await rt.compose.ping(PROBE_TIMEOUT_S)
    except ComposeTimeoutError:
        return {"ok": False, "error": "timeout"}
    except ComposeCommandError as exc:
        return {"ok": False, "error": (exc.output.strip() or exc.message)[-200:]}
    except ComposeError as exc:
        return {"ok": False, "error": exc.message}
    return {"ok": True}


async def compose_call(call: Callable[[], Awaitable[T]]) -> T:
    """Run a compose call, mapping failures: Docker unreachable is retried, anything else fails with the output."""
    try:
        return await call()
    except ComposeError as exc:
        raise operation_error(exc) from exc


async def up_or_explain(compose: ComposeRunner, project: ComposeProject, *, recreate: bool = False) -> str:
    """`up --wait` (compose's output); when it fails, `config` tells whether the file is at fault, else the
    containers' last log lines are added to the error."""
    try:
        return await compose_call(partial(compose.up, project, recreate=recreate))
    except OperationFailedError as exc:
        details = exc.details if isinstance(exc.details, dict) else {}
        try:
            await compose_call(partial(compose.config, project))
        except OperationFailedError as invalid:  # the file itself is refused: that is the explanation
            raise OperationFailedError(
                f"invalid compose file: {invalid}", code="compose_invalid", details=details
            ) from exc
        lines: list[str] = []
        with contextlib.suppress(ComposeError, TimeoutError):
            async with asyncio.timeout(15):
                lines = [line async for line in compose.logs(project, tail=FAILURE_LOG_LINES)]
        raise OperationFailedError(str(exc), code=exc.code, details={**details, "logs": lines}) from exc


def counts_as_up(container: ContainerStatus) -> bool:
    """Running and healthy, or a one-shot container that finished successfully."""
    if container.service in ONE_SHOT_SERVICES and container.state == "exited":
        return container.exit_code == 0
    return container.is_up


def all_up(containers: Sequence[ContainerStatus]) -> bool:
    """Whether there are containers and every one counts as up."""
    return bool(containers) and all(counts_as_up(c) for c in containers)


def derived_status(containers: Sequence[ContainerStatus]) -> str:
    """``running`` when everything is up, ``stopped`` when nothing runs, else ``degraded``."""
    if all_up(containers):
        return "running"
    if all(c.state != "running" for c in containers):
        return "stopped"
    return "degraded"


async def wait_until_up(compose: ComposeRunner, project: ComposeProject, timeout_s: float) -> None:
    """Poll `ps` until every container is up; fail with their states when that does not happen in time."""
    polled = await poll_until(
        partial(compose_call, partial(compose.ps, project)), all_up, timeout_s=timeout_s, interval_s=POLL_S
    )
    if not polled.done:
        raise OperationFailedError(
            f"the service's containers did not become healthy within {timeout_s:g}s",
            code="service_unhealthy",
            details={"containers": [_state(c) for c in polled.value]},
        )


def _state(container: ContainerStatus) -> dict[str, Any]:
    return {"service": container.service, "state": container.state, "health": container.health}
