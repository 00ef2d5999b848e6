"""``service.db-publish`` and ``service.db-unpublish``: a database's port on or off the bind address. The service
keeps its status; `up` recreates the database container alone (its configuration is the only one that changed)."""

from __future__ import annotations

import asyncio
import contextlib
from functools import partial
from typing import Any

from cloudfaster.apps import publishing
from cloudfaster.apps.errors import TemplateError
from cloudfaster.apps.kinds.common import ServiceKind
from cloudfaster.apps.layout import ServiceLayout
from cloudfaster.apps.params import PublishParams
from cloudfaster.apps.runtime import up_or_explain
from cloudfaster.apps.store import project_of
from cloudfaster.compose.errors import ComposeError
from cloudfaster.core.runner.context import OperationContext
from cloudfaster.core.runner.kinds import OperationFailedError


class PublishDatabase(ServiceKind[PublishParams]):
    """Reserve the host ports, publish them in the compose file, recreate the database containers."""

    name = publishing.PUBLISH
    params = PublishParams

    async def run(self, ctx: OperationContext[PublishParams]) -> dict[str, Any]:
        """Publish the databases' ports."""
        owned, layout = await self.target(ctx)
        engines = list(ctx.params.engines)
        ports = await ctx.step("ports", partial(publishing.allocate, self.rt, owned.row.id, engines))
        await ctx.step("compose", partial(self._follow_row, ctx, layout))
        await ctx.step("up", partial(up_or_explain, self.rt.compose, project_of(layout)))
        return {"service_id": owned.row.id, "published": ports}

    async def _follow_row(self, ctx: OperationContext[PublishParams], layout: ServiceLayout) -> list[str]:
        """Rewrite the compose file from the ports the row records."""
        return await self._rewrite(layout, await publishing.held_ports(self.rt, ctx.params.service_id))

    async def _rewrite(self, layout: ServiceLayout, published: dict[str, int]) -> list[str]:
        try:
            return await asyncio.to_thread(publishing.rewrite_compose, layout, self.rt.builder.templates, published)
        except TemplateError as exc:
            raise OperationFailedError(exc.message, code=exc.code) from exc
        except OSError as exc:
            raise OperationFailedError(f"cannot rewrite the compose file: {exc}", code="compose_invalid") from exc

    async def on_failure(self, ctx: OperationContext[PublishParams], error: OperationFailedError) -> None:
        """Free the ports this publish reserved and put the compose file and containers back as they were."""
        await publishing.release(self.rt, ctx.params.service_id, ctx.params.engines)
        await self._restore(ctx)

    async def _restore(self, ctx: OperationContext[PublishParams]) -> None:
        """Make the compose file and the containers match what the row records, as far as Docker lets us."""
        _owned, layout = await self.target(ctx)
        with contextlib.suppress(OperationFailedError, ComposeError):
            await self._follow_row(ctx, layout)
            await self.rt.compose.up(project_of(layout))


class UnpublishDatabase(PublishDatabase):
    """Take the ports out of the compose file, recreate the database containers, then free the ports."""

    name = publishing.UNPUBLISH

    async def run(self, ctx: OperationContext[PublishParams]) -> dict[str, Any]:
        """Unpublish the databases' ports."""
        owned, layout = await self.target(ctx)
        engines = list(ctx.params.engines)
        held = await publishing.held_ports(self.rt, owned.row.id)
        kept = {e: port for e, port in held.items() if e not in engines}
        await ctx.step("compose", partial(self._rewrite, layout, kept))
        await ctx.step("up", partial(up_or_explain, self.rt.compose, project_of(layout)))
        await ctx.step("ports", partial(publishing.release, self.rt, owned.row.id, engines))
        return {"service_id": owned.row.id, "unpublished": engines}

    async def on_failure(self, ctx: OperationContext[PublishParams], error: OperationFailedError) -> None:
        """The row still holds the ports: the compose file and containers go back to publishing them."""
        await self._restore(ctx)
