"""What the service operation kinds share: the runtime, the service an operation targets, failure details, and
taking a service apart (compose down, files, ports, custom domains, kept deployments), which create's clean-up and
delete both do."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, Generic, TypeVar

from cloudfaster.apps import ports, store
from cloudfaster.apps.layout import ServiceLayout
from cloudfaster.apps.params import ServiceParams
from cloudfaster.apps.runtime import AppRuntime, compose_call, derived_status
from cloudfaster.apps.store import OwnedService, layout_of, project_of
from cloudfaster.compose.errors import ComposeError
from cloudfaster.core.runner.context import OperationContext
from cloudfaster.core.runner.kinds import OperationFailedError

P = TypeVar("P", bound=ServiceParams)
T = TypeVar("T")
BUILD_LOG_LINES = 200
Step = Callable[[str, Callable[[], Awaitable[Any]]], Awaitable[Any]]


async def _at_once(_name: str, action: Callable[[], Awaitable[T]]) -> T:
    return await action()


def failure_detail(error: OperationFailedError) -> dict[str, Any]:
    """The ``status_detail`` of a service whose operation failed."""
    detail: dict[str, Any] = {"code": error.code, "message": str(error)}
    if isinstance(error.details, dict):
        detail.update({k: v for k, v in error.details.items() if k in ("output", "containers", "logs")})
    return detail


def error_output(error: OperationFailedError) -> str:
    """What a failed deployment records: the error, compose's output and the containers' last log lines."""
    details = error.details if isinstance(error.details, dict) else {}
    parts = [str(error), str(details.get("output") or ""), "\n".join(details.get("logs") or [])]
    return "\n".join(part for part in parts if part)


class ServiceKind(Generic[P]):
    """Shared plumbing: the runtime, and the service/layout an operation targets."""

    name = ""

    def __init__(self, runtime: AppRuntime) -> None:
        self.rt = runtime

    async def target(self, ctx: OperationContext[P]) -> tuple[OwnedService, ServiceLayout]:
        """The service row and its on-disk layout."""
        owned = await self.rt.owned(ctx.params.service_id)
        return owned, layout_of(self.rt.settings, owned.userid, owned.row.id)

    async def live_status(self, layout: ServiceLayout) -> str:
        """What `ps` says the service is now (``failed`` when Docker cannot tell)."""
        try:
            return derived_status(await self.rt.compose.ps(project_of(layout)))
        except ComposeError:
            return "failed"

    async def build_output(self, owned: OwnedService, layout: ServiceLayout) -> str:
        """The React build container's log (the other templates build nothing)."""
        if "react" not in owned.row.service_types:
            return ""
        lines: list[str] = []
        with contextlib.suppress(ComposeError):
            logs = self.rt.compose.logs(project_of(layout), tail=BUILD_LOG_LINES, services=["build"])
            lines = [line async for line in logs]
        return "\n".join(lines)

    async def dismantle(self, service_id: int, layout: ServiceLayout, step: Step | None = None) -> None:
        """`down --volumes`, remove the files (the kept deployments' sources with them), free the ports and custom
        domains. With ``ctx.step`` (delete) each part runs once and a failing `down` fails the operation; without
        (clean-up after a failed create) Docker errors are ignored."""
        project = project_of(layout)
        if step is None:
            step = _at_once
            with contextlib.suppress(ComposeError):
                await self.rt.compose.down(project)
        else:
            await step("down", partial(compose_call, partial(self.rt.compose.down, project)))
        await step("files", partial(_remove_files, layout))
        await step("deployments", partial(self._forget_deployments, service_id))
        await step("ports", partial(self._release_ports, service_id))
        await step("domains", partial(self._release_domains, service_id))

    async def _release_ports(self, service_id: int) -> bool:
        async with self.rt.db.write() as session:
            await ports.release_ports(session, service_id)
        return True

    async def _forget_deployments(self, service_id: int) -> int:
        """The kept sources went with the files: no deployment can be rolled back to any more."""
        async with self.rt.db.write() as session:
            kept = [row.number for row in await store.kept_deployments(session, service_id)]
            await store.forget_kept(session, service_id, kept)
        return len(kept)

    async def _release_domains(self, service_id: int) -> int:
        """Free the service's custom domains, so that another service may claim them."""
        async with self.rt.db.write() as session:
            return await store.remove_domains(session, service_id)


async def _remove_files(layout: ServiceLayout) -> bool:
    layout.remove()
    with contextlib.suppress(OSError):
        layout.root.parent.rmdir()  # the user's directory, once their last service is gone
    return True
