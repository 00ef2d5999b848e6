"""``/hooks``: push webhook deliveries from git hosts (no API key: the secret URL and the signature stand for it)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse

from cloudfaster.api.accepted import maybe_ref
from cloudfaster.api.deps import AppsDep
from cloudfaster.api.schemas.services import DeliveryRead
from cloudfaster.apps import webhooks

router = APIRouter(prefix="/hooks", tags=["webhooks"])


@router.post("/services/{token}", status_code=202, response_model=DeliveryRead)
async def deliver(token: Annotated[str, Path(max_length=100)], request: Request, rt: AppsDep) -> JSONResponse:
    """A push from GitHub, GitLab or Gitea: checked against the webhook secret (401 and nothing deployed without
    a valid signature), then a push to the deployed branch redeploys from git."""
    delivery = await webhooks.deliver(rt, token, await request.body(), request.headers)
    started = delivery.started
    body = DeliveryRead(
        outcome=delivery.outcome, reason=delivery.reason, operation=maybe_ref(started.operation if started else None)
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=202 if started else 200)
