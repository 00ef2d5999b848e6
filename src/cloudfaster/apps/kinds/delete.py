"""``service.delete``: `down --volumes`, remove the files, free the ports and custom domains; the record stays as
``deleted``, without its push webhook (its secret URL answers 404 from then on) and with no deployment kept."""

from __future__ import annotations

from typing import Any

from cloudfaster.apps.kinds.common import ServiceKind, failure_detail
from cloudfaster.apps.params import DeleteParams
from cloudfaster.core.runner.context import OperationContext
from cloudfaster.core.runner.kinds import OperationFailedError
from cloudfaster.db.base import utcnow


class DeleteService(ServiceKind[DeleteParams]):
    """Take the service apart, each part a checkpointed step; a failure leaves it ``failed`` for another try."""

    name = "service.delete"
    params = DeleteParams

    async def run(self, ctx: OperationContext[DeleteParams]) -> dict[str, Any]:
        """Delete the service."""
        owned, layout = await self.target(ctx)
        await self.dismantle(owned.row.id, layout, ctx.step)
        await self.rt.set_status(
            owned.row.id,
            "deleted",
            deleted_at=utcnow(),
            ports=None,
            urls=None,
            status_detail=None,
            webhook_token_hash=None,
            webhook_secret=None,
        )
        return {"service_id": owned.row.id}

    async def on_failure(self, ctx: OperationContext[DeleteParams], error: OperationFailedError) -> None:
        """Record why the delete failed; a new DELETE tries again."""
        owned = await self.rt.owned(ctx.params.service_id)
        await self.rt.set_status(owned.row.id, "failed", status_detail=failure_detail(error))
