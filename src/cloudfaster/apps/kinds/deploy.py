"""``service.deploy``: swap in new files and recreate the containers; the previous files stay until the new
deployment is healthy, and come back if it is not."""

from __future__ import annotations

import contextlib
import os
import shutil
from functools import partial
from pathlib import Path
from typing import Any

from cloudfaster.apps.intake import discard
from cloudfaster.apps.kinds.common import ServiceKind, failure_detail
from cloudfaster.apps.layout import ServiceLayout
from cloudfaster.apps.params import DeployParams
from cloudfaster.apps.runtime import up_or_explain
from cloudfaster.apps.store import project_of
from cloudfaster.compose.errors import ComposeError
from cloudfaster.core.runner.context import OperationContext
from cloudfaster.core.runner.kinds import OperationFailedError

PREVIOUS_DATA = ".data.previous"


class DeployService(ServiceKind[DeployParams]):
    """Deploy a staged source over a running service, rolling back to the previous files on failure."""

    name = "service.deploy"
    params = DeployParams

    async def run(self, ctx: OperationContext[DeployParams]) -> dict[str, Any]:
        """Deploy the staged source."""
        owned, layout = await self.target(ctx)
        project = project_of(layout)
        await ctx.step("swap", partial(self._swap, layout, ctx.params.staged_path))
        await ctx.step("up", partial(up_or_explain, self.rt.compose, project, recreate=True))
        await ctx.step("cleanup", partial(self._cleanup, layout))
        await self.rt.set_status(
            owned.row.id,
            "running",
            status_detail=None,
            source_type=ctx.params.source_type,
            source_ref=ctx.params.source_ref,
        )
        return {"service_id": owned.row.id, "source_ref": ctx.params.source_ref}

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
        """Put the previous files back and bring the previous deployment up again."""
        owned, layout = await self.target(ctx)
        discard(ctx.params.staged_path)
        previous = layout.root / PREVIOUS_DATA
        if previous.exists():
            shutil.rmtree(layout.data_dir, ignore_errors=True)
            os.rename(previous, layout.data_dir)
            with contextlib.suppress(ComposeError):
                await self.rt.compose.up(project_of(layout), recreate=True)
        detail = failure_detail(error) | {"rolled_back": True}
        await self.rt.set_status(owned.row.id, await self.live_status(layout), status_detail=detail)
