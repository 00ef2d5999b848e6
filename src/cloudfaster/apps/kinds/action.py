"""``service.action``: start, stop or restart the service's containers."""

from __future__ import annotations

from functools import partial
from typing import Any

from cloudfaster.apps import environment
from cloudfaster.apps.kinds.common import ServiceKind, failure_detail
from cloudfaster.apps.params import ActionParams
from cloudfaster.apps.runtime import compose_call, up_or_explain, wait_until_up
from cloudfaster.apps.store import project_of
from cloudfaster.core.runner.context import OperationContext
from cloudfaster.core.runner.kinds import OperationFailedError


class ServiceAction(ServiceKind[ActionParams]):
    """Run the action and wait until the containers are where it puts them."""

    name = "service.action"
    params = ActionParams

    async def run(self, ctx: OperationContext[ActionParams]) -> dict[str, Any]:
        """Run the action and wait until the containers are where it puts them."""
        owned, layout = await self.target(ctx)
        project = project_of(layout)
        action = ctx.params.action
        compose = self.rt.compose
        call = {"start": compose.start, "stop": compose.stop, "restart": compose.restart}[action]
        if action != "stop" and await ctx.step("env", partial(environment.apply, self.rt, owned.row.id, layout)):
            # New variables: `up` recreates the containers that read .env, the others just start.
            await ctx.step(action, partial(up_or_explain, compose, project))
        else:
            await ctx.step(action, partial(compose_call, partial(call, project)))
        status = "stopped"
        if action != "stop":
            await ctx.step("healthy", partial(wait_until_up, compose, project, self.rt.settings.docker.up_timeout_s))
            status = "running"
        await self.rt.set_status(owned.row.id, status, status_detail=None)
        return {"service_id": owned.row.id, "status": status}

    async def on_failure(self, ctx: OperationContext[ActionParams], error: OperationFailedError) -> None:
        """Record the error and whatever state the containers are in now."""
        owned, layout = await self.target(ctx)
        await self.rt.set_status(owned.row.id, await self.live_status(layout), status_detail=failure_detail(error))
