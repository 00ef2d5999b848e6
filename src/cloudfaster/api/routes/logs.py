"""The live log stream (Server-Sent Events), for admins."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Literal

from fastapi import APIRouter, Query, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from cloudfaster.api.deps import AdminDep, AuthFirstRoute, StateDep
from cloudfaster.logs.stream import StreamFilter

router = APIRouter(prefix="/logs", tags=["logs"], route_class=AuthFirstRoute)

Level = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


@router.get("/stream", response_class=EventSourceResponse)
async def stream_logs(
    request: Request,
    state: StateDep,
    _: AdminDep,
    level: Level = "INFO",
    userid: str | None = Query(default=None, max_length=64),
    resource: str | None = Query(default=None, max_length=200, description="A resource or operation id"),
) -> EventSourceResponse:
    """Live log records as Server-Sent Events (admin only); a slow reader misses records, and is told how many."""
    hub = state.hub
    sub = hub.subscribe(StreamFilter(level=logging.getLevelNamesMapping()[level], userid=userid, resource=resource))
    state.metrics.set_log_stream_subscribers(hub.subscriber_count)

    async def events() -> AsyncIterator[ServerSentEvent]:
        reported = 0
        try:
            yield ServerSentEvent(event="ready", data="{}")
            while True:
                try:
                    record = await asyncio.wait_for(sub.queue.get(), timeout=15)
                except TimeoutError:
                    if await request.is_disconnected():
                        return
                    continue
                if sub.dropped > reported:
                    yield ServerSentEvent(event="dropped", data=json.dumps({"count": sub.dropped - reported}))
                    reported = sub.dropped
                yield ServerSentEvent(event="log", data=json.dumps(record, default=str))
        finally:
            hub.unsubscribe(sub)
            state.metrics.set_log_stream_subscribers(hub.subscriber_count)

    return EventSourceResponse(events(), ping=15, send_timeout=30)
