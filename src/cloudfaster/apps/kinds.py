"""The service operations: create, start/stop/restart, deploy and delete. Every side effect is a checkpointed,
idempotent step, so an operation resumed after a crash picks up where it stopped."""

from __future__ import annotations

import contextlib
import os
import shutil
from functools import partial
from pathlib import Path
from typing import Any

from cloudfaster.apps.builder import service_urls
from cloudfaster.apps.intake import discard
from cloudfaster.apps.layout import ServiceLayout, content_owner
from cloudfaster.apps.ports import release_ports
from cloudfaster.apps.runtime import (
    ServiceRuntime,
    compose_call,
    derived_status,
    up_or_explain,
    wait_until_up,
)
from cloudfaster.apps.spec import DATABASE_TYPES, DatabaseCredentials, ResourceLimits, ServiceSpec
from cloudfaster.apps.spec import parse_service_types as parse_types
from cloudfaster.apps.staging import move_into_place
from cloudfaster.apps.store import (
    OwnedService,
    layout_of,
    owner_dir,
    project_of,
    service_key,
    set_status,
)
from cloudfaster.compose.errors import ComposeDomainError, TemplateError
from cloudfaster.core.runner.context import OperationContext
from cloudfaster.core.runner.kinds import OperationFailedError, OperationKind
from cloudfaster.db.base import utcnow

PREVIOUS_DATA = ".data.previous"


def _staged(ctx: OperationContext) -> Path | None:
    value = ctx.params.get("staged")
    return Path(value) if value else None


def _failure_detail(error: OperationFailedError) -> dict[str, Any]:
    detail: dict[str, Any] = {"code": error.code, "message": str(error)}
    if isinstance(error.details, dict):
        detail.update({k: v for k, v in error.details.items() if k in ("output", "containers", "logs")})
    return detail


class _ServiceKind:
    """Shared plumbing: the runtime, and the service/layout/project an operation targets."""

    name = ""

    def __init__(self, runtime: ServiceRuntime) -> None:
        self.rt = runtime

    async def target(self, ctx: OperationContext) -> tuple[OwnedService, ServiceLayout]:
        """The service row and its on-disk layout."""
        owned = await self.rt.owned(int(ctx.params["service_id"]))
        return owned, layout_of(self.rt.settings, owned.userid, owned.row.id)

    async def live_status(self, layout: ServiceLayout) -> str:
        """What `ps` says the service is now (``failed`` when Docker cannot tell)."""
        try:
            return derived_status(await self.rt.compose.ps(project_of(layout)))
        except ComposeDomainError:
            return "failed"


class CreateService(_ServiceKind):
    """``service.create``: directories, source, rendered files, `up --wait`; on failure nothing is left running."""

    name = "service.create"

    async def run(self, ctx: OperationContext) -> dict[str, Any]:
        """Create the service."""
        owned, layout = await self.target(ctx)
        docker = self.rt.settings.docker
        await ctx.step("directories", partial(self._directories, layout))
        await ctx.step("source", partial(self._source, layout, _staged(ctx)))
        await ctx.step("render", partial(self._render, owned, layout, ctx.params))
        project = project_of(layout)
        await ctx.save("project", project.name)
        await ctx.step("up", partial(up_or_explain, self.rt.compose, project))
        urls = service_urls(docker.public_base_url, owned.row.ports or {})
        await set_status(self.rt.db, owned.row.id, "running", urls=urls, status_detail=None)
        return {"service_id": owned.row.id, "project": project.name, "urls": urls}

    async def _directories(self, layout: ServiceLayout) -> str:
        docker = self.rt.settings.docker
        layout.create(docker.files_uid, docker.files_gid)
        return str(layout.root)

    async def _source(self, layout: ServiceLayout, staged: Path | None) -> bool:
        if staged is not None and (staged / "data").exists():
            move_into_place(staged / "data", layout.data_dir)
        discard(staged)
        return staged is not None

    async def _render(self, owned: OwnedService, layout: ServiceLayout, params: dict[str, Any]) -> list[str]:
        docker = self.rt.settings.docker
        try:
            types = parse_types(params["types"])
            spec = ServiceSpec(
                project=layout.project,
                owner=owner_dir(owned.userid),
                service_id=service_key(self.rt.settings, owned.row.id),
                types=types,
                ports=dict(owned.row.ports or {}),
                filebrowser_username=params["filebrowser_user"],
                filebrowser_password_hash=params["filebrowser_hash"],
                database=DatabaseCredentials.generate() if types & DATABASE_TYPES else None,
                limits=ResourceLimits(**params["limits"]),
                env=dict(params.get("env") or {}),
                run_as=content_owner(docker.files_uid, docker.files_gid),
            )
            rendered = self.rt.builder.render(spec)
        except TemplateError as exc:
            raise OperationFailedError(exc.message, code=exc.code) from exc
        files = rendered.all_files()
        layout.write_files(files)
        # No separate `docker compose config` here: the render was checked against the Compose schema and our
        # policy, `up` loads and validates the file the same way, and a failing `up` runs `config` to explain
        # itself (runtime.up_or_explain). Every template is checked with `docker compose config` in the tests.
        return sorted(files)

    async def on_failure(self, ctx: OperationContext, error: OperationFailedError) -> None:
        """Take down whatever started, remove the files, free the ports; the record stays as ``failed``."""
        owned, layout = await self.target(ctx)
        with contextlib.suppress(ComposeDomainError):
            await self.rt.compose.down(project_of(layout))
        layout.remove()
        discard(_staged(ctx))
        async with self.rt.db.write() as session:
            await release_ports(session, owned.row.id)
        await set_status(
            self.rt.db, owned.row.id, "failed", status_detail=_failure_detail(error), ports=None, urls=None
        )


class ServiceAction(_ServiceKind):
    """``service.action``: start, stop or restart the service's containers."""

    name = "service.action"

    async def run(self, ctx: OperationContext) -> dict[str, Any]:
        """Run the action and wait until the containers are where it puts them."""
        owned, layout = await self.target(ctx)
        project = project_of(layout)
        action = str(ctx.params["action"])
        compose = self.rt.compose
        call = {"start": compose.start, "stop": compose.stop, "restart": compose.restart}[action]
        await ctx.step(action, partial(compose_call, partial(call, project)))
        status = "stopped"
        if action != "stop":
            await ctx.step("healthy", partial(wait_until_up, compose, project, self.rt.settings.docker.up_timeout_s))
            status = "running"
        await set_status(self.rt.db, owned.row.id, status, status_detail=None)
        return {"service_id": owned.row.id, "status": status}

    async def on_failure(self, ctx: OperationContext, error: OperationFailedError) -> None:
        """Record the error and whatever state the containers are in now."""
        owned, layout = await self.target(ctx)
        await set_status(self.rt.db, owned.row.id, await self.live_status(layout), status_detail=_failure_detail(error))


class DeployService(_ServiceKind):
    """``service.deploy``: swap in new files and recreate the containers; the previous files stay until the new
    deployment is healthy, and come back if it is not."""

    name = "service.deploy"

    async def run(self, ctx: OperationContext) -> dict[str, Any]:
        """Deploy the staged source."""
        owned, layout = await self.target(ctx)
        project = project_of(layout)
        await ctx.step("swap", partial(self._swap, layout, _staged(ctx)))
        await ctx.step("up", partial(up_or_explain, self.rt.compose, project, recreate=True))
        await ctx.step("cleanup", partial(self._cleanup, layout))
        await set_status(
            self.rt.db,
            owned.row.id,
            "running",
            status_detail=None,
            source_type=ctx.params["source_type"],
            source_ref=ctx.params["source_ref"],
        )
        return {"service_id": owned.row.id, "source_ref": ctx.params["source_ref"]}

    async def _swap(self, layout: ServiceLayout, staged: Path | None) -> bool:
        previous = layout.root / PREVIOUS_DATA
        if staged is not None and (staged / "data").exists():
            if layout.data_dir.exists():
                if previous.exists():  # left by an earlier deploy that stopped before its clean-up
                    shutil.rmtree(previous)
                os.rename(layout.data_dir, previous)
            os.rename(staged / "data", layout.data_dir)
        discard(staged)
        return True

    async def _cleanup(self, layout: ServiceLayout) -> bool:
        shutil.rmtree(layout.root / PREVIOUS_DATA, ignore_errors=True)
        return True

    async def on_failure(self, ctx: OperationContext, error: OperationFailedError) -> None:
        """Put the previous files back and bring the previous deployment up again."""
        owned, layout = await self.target(ctx)
        discard(_staged(ctx))
        previous = layout.root / PREVIOUS_DATA
        if previous.exists():
            shutil.rmtree(layout.data_dir, ignore_errors=True)
            os.rename(previous, layout.data_dir)
            with contextlib.suppress(ComposeDomainError):
                await self.rt.compose.up(project_of(layout), recreate=True)
        detail = _failure_detail(error) | {"rolled_back": True}
        await set_status(self.rt.db, owned.row.id, await self.live_status(layout), status_detail=detail)


class DeleteService(_ServiceKind):
    """``service.delete``: `down --volumes`, remove the files, free the ports; the record stays as ``deleted``."""

    name = "service.delete"

    async def run(self, ctx: OperationContext) -> dict[str, Any]:
        """Delete the service."""
        owned, layout = await self.target(ctx)
        project = project_of(layout)
        await ctx.step("down", partial(compose_call, partial(self.rt.compose.down, project)))
        await ctx.step("files", partial(self._files, layout))
        await ctx.step("ports", partial(self._ports, owned.row.id))
        await set_status(
            self.rt.db, owned.row.id, "deleted", deleted_at=utcnow(), ports=None, urls=None, status_detail=None
        )
        return {"service_id": owned.row.id}

    async def _files(self, layout: ServiceLayout) -> bool:
        layout.remove()
        with contextlib.suppress(OSError):
            layout.root.parent.rmdir()  # the user's directory, once their last service is gone
        return True

    async def _ports(self, service_id: int) -> bool:
        async with self.rt.db.write() as session:
            await release_ports(session, service_id)
        return True

    async def on_failure(self, ctx: OperationContext, error: OperationFailedError) -> None:
        """Record why the delete failed; a new DELETE tries again."""
        owned = await self.rt.owned(int(ctx.params["service_id"]))
        await set_status(self.rt.db, owned.row.id, "failed", status_detail=_failure_detail(error))


def all_kinds(runtime: ServiceRuntime) -> list[OperationKind]:
    """One instance of every service operation kind."""
    return [CreateService(runtime), ServiceAction(runtime), DeployService(runtime), DeleteService(runtime)]
