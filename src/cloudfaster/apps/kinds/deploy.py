"""``service.deploy`` and ``service.rollback``: record the deployment, keep its source, swap in the new files and
recreate the containers; the previous files stay until the new deployment is healthy, and come back if it is not."""

from __future__ import annotations

import contextlib
import os
import shutil
from functools import partial
from pathlib import Path
from typing import Any

from cloudfaster.apps import deployments, environment
from cloudfaster.apps.intake import SourceRequest, discard, stage_source
from cloudfaster.apps.kinds.common import ServiceKind, error_output, failure_detail
from cloudfaster.apps.layout import ServiceLayout
from cloudfaster.apps.params import DeployParams
from cloudfaster.apps.runtime import up_or_explain
from cloudfaster.apps.store import project_of
from cloudfaster.compose.errors import ComposeError
from cloudfaster.core.errors import AppError
from cloudfaster.core.runner.context import OperationContext
from cloudfaster.core.runner.kinds import OperationFailedError

PREVIOUS_DATA = ".data.previous"


class DeployService(ServiceKind[DeployParams]):
    """Deploy a staged (or, for a push webhook, freshly cloned) source over a running service, rolling back to the
    previous files on failure."""

    name = "service.deploy"
    params = DeployParams

    async def run(self, ctx: OperationContext[DeployParams]) -> dict[str, Any]:
        """Deploy the staged source."""
        owned, layout = await self.target(ctx)
        project = project_of(layout)
        p = ctx.params
        staged, digest = p.staged_path, p.source_digest
        if p.fetch:
            fetched = await ctx.step("fetch", partial(self._fetch, p))
            staged, digest = Path(fetched["staged"]), fetched["commit"]
        record = partial(
            deployments.begin,
            self.rt,
            service_id=owned.row.id,
            operation_id=ctx.op_id,
            source_type=p.source_type,
            source_ref=p.source_ref,
            source_digest=digest,
            rollback_of=p.rollback_of,
        )
        number = await ctx.step("record", record)
        if staged is not None:
            await ctx.step("keep", partial(deployments.keep_source, layout, number, staged))
        await ctx.step("swap", partial(self._swap, layout, staged))
        await ctx.step("env", partial(environment.apply, self.rt, owned.row.id, layout))
        output = await ctx.step("up", partial(up_or_explain, self.rt.compose, project, recreate=True))
        output = "\n".join(filter(None, [await self.build_output(owned, layout), output]))
        await ctx.step("cleanup", partial(self._cleanup, layout))
        await deployments.finish(self.rt, layout, ctx.op_id, ok=True, output=output)
        await self.rt.set_status(
            owned.row.id, "running", status_detail=None, source_type=p.source_type, source_ref=p.source_ref
        )
        return {"service_id": owned.row.id, "deployment": number, "source_ref": p.source_ref}

    async def _fetch(self, params: DeployParams) -> dict[str, str]:
        try:
            staged = await stage_source(self.rt, SourceRequest(git_url=params.git_url, git_ref=params.git_ref))
        except AppError as exc:
            raise OperationFailedError(exc.message, code=exc.code) from exc
        if staged.path is None:
            raise OperationFailedError("the push webhook names no repository", code="source_missing")
        return {"staged": str(staged.path), "commit": str(staged.detail.get("commit") or "")}

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

    async def on_failure(self, ctx: OperationContext[DeployParams], error: OperationFailedError) -> None:
        """Record the failed deployment, put the previous files back and bring the previous deployment up again."""
        owned, layout = await self.target(ctx)
        discard(ctx.params.staged_path)
        fetched = ctx.saved("fetch")
        if fetched:
            discard(Path(fetched["staged"]))
        await deployments.finish(self.rt, layout, ctx.op_id, ok=False, output=error_output(error))
        previous = layout.root / PREVIOUS_DATA
        if previous.exists():
            shutil.rmtree(layout.data_dir, ignore_errors=True)
            os.rename(previous, layout.data_dir)
            with contextlib.suppress(ComposeError):
                await self.rt.compose.up(project_of(layout), recreate=True)
        detail = failure_detail(error) | {"rolled_back": True}
        await self.rt.set_status(owned.row.id, await self.live_status(layout), status_detail=detail)


class RollbackService(DeployService):
    """Deploy a kept deployment's source again, as a new deployment that names the one it rolls back to."""

    name = "service.rollback"
