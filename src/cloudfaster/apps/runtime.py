"""What the service operations share: settings, database, the compose runner, and compose error mapping."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from cloudfaster.apps.builder import ComposeBuilder
from cloudfaster.apps.store import OwnedService, load
from cloudfaster.compose.errors import (
    ComposeCommandError,
    ComposeDomainError,
    ComposeTimeoutError,
    ComposeUnavailableError,
)
from cloudfaster.compose.protocol import ComposeProject, ComposeRunner, ContainerStatus
from cloudfaster.core.runner.kinds import OperationFailedError, RetryableError
from cloudfaster.core.runner.runner import OperationRunner
from cloudfaster.db.engine import Database
from cloudfaster.settings import Settings

T = TypeVar("T")
POLL_S = 0.5
FAILURE_LOG_LINES = 50
ONE_SHOT_SERVICES = frozenset({"build"})  # React's build container exits 0 when done


@dataclass
class ServiceRuntime:
    """The parts every service operation and route works with."""

    settings: Settings
    db: Database
    compose: ComposeRunner
    builder: ComposeBuilder
    runner: OperationRunner

    async def owned(self, service_id: int) -> OwnedService:
        """The service an operation works on; gone means the operation cannot go on."""
        async with self.db.read() as session:
            found = await load(session, service_id)
        if found is None:
            raise OperationFailedError(f"service {service_id} does not exist", code="service_missing")
        return found


async def compose_call(call: Callable[[], Awaitable[T]]) -> T:
    """Run a compose call, mapping failures: Docker unreachable is retried, anything else fails with the output."""
    try:
        return await call()
    except ComposeUnavailableError as exc:
        raise RetryableError(exc.message, code=exc.code) from exc
    except ComposeTimeoutError as exc:
        raise OperationFailedError(exc.message, code=exc.code, details={"output": exc.output}) from exc
    except ComposeCommandError as exc:
        if "Cannot connect to the Docker daemon" in exc.output:
            raise RetryableError(exc.message, code="docker_unavailable") from exc
        raise OperationFailedError(exc.message, code=exc.code, details={"output": exc.output}) from exc


async def up_or_explain(compose: ComposeRunner, project: ComposeProject, *, recreate: bool = False) -> None:
    """`up --wait`; when it fails, `config` tells whether the file is at fault, else the containers' last log
    lines are added to the error."""
    try:
        await compose_call(partial(compose.up, project, recreate=recreate))
    except OperationFailedError as exc:
        details = exc.details if isinstance(exc.details, dict) else {}
        try:
            await compose_call(partial(compose.config, project))
        except OperationFailedError as invalid:  # the file itself is refused: that is the explanation
            raise OperationFailedError(
                f"invalid compose file: {invalid}", code="compose_invalid", details=details
            ) from exc
        lines: list[str] = []
        with contextlib.suppress(ComposeDomainError, TimeoutError):
            async with asyncio.timeout(15):
                lines = [line async for line in compose.logs(project, tail=FAILURE_LOG_LINES)]
        raise OperationFailedError(str(exc), code=exc.code, details={**details, "logs": lines}) from exc


def counts_as_up(container: ContainerStatus) -> bool:
    """Running and healthy, or a one-shot container that finished successfully."""
    if container.service in ONE_SHOT_SERVICES and container.state == "exited":
        return container.exit_code == 0
    return container.is_up


def derived_status(containers: Sequence[ContainerStatus]) -> str:
    """``running`` when everything is up, ``stopped`` when nothing runs, else ``degraded``."""
    if containers and all(counts_as_up(c) for c in containers):
        return "running"
    if all(c.state != "running" for c in containers):
        return "stopped"
    return "degraded"


async def wait_until_up(compose: ComposeRunner, project: ComposeProject, timeout_s: float) -> None:
    """Poll `ps` until every container is up; fail with their states when that does not happen in time."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        containers = await compose_call(lambda: compose.ps(project))
        if containers and all(counts_as_up(c) for c in containers):
            return
        if loop.time() >= deadline:
            raise OperationFailedError(
                f"the service's containers did not become healthy within {timeout_s:g}s",
                code="service_unhealthy",
                details={"containers": [_state(c) for c in containers]},
            )
        await asyncio.sleep(POLL_S)


def _state(container: ContainerStatus) -> dict[str, Any]:
    return {"service": container.service, "state": container.state, "health": container.health}
