"""The asyncio client: ``await AsyncClient(url, key).send(calls.vm_get(101))``, ``wait()``, ``follow()``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import httpx

from cloudfaster.client import calls
from cloudfaster.client._core import RETRY_ERRORS, RETRY_STATUSES, USER_AGENT, Call, RetryPolicy, raise_for
from cloudfaster.client.errors import ConnectionFailed, OperationFailed
from cloudfaster.client.models import Operation
from cloudfaster.client.sync import PROGRESS_POLL_S, QUIET_POLL_S

T = TypeVar("T")
Progress = Callable[[Operation], Awaitable[None] | None]


class AsyncClient:
    """A CloudFaster API client on ``httpx.AsyncClient``; ``async with`` it, or ``await aclose()``."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"X-API-Key": api_key, "User-Agent": USER_AGENT},
            timeout=httpx.Timeout(timeout, connect=10.0),
            transport=transport,
        )

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def send(self, call: Call[T]) -> T:
        """Make the call, retrying 429/503 (after Retry-After) and, when safe, broken connections."""
        response = await self._response(call)
        raise_for(response)
        return call.parse(response)

    async def _response(self, call: Call[Any]) -> httpx.Response:
        attempt = 0
        while True:
            parts, handles = call.open_form()
            try:
                response = await self._http.request(
                    call.method, call.path, params=call.params, json=call.json,
                    files=parts or None, headers=call.headers(),
                )  # fmt: skip
            except RETRY_ERRORS as exc:
                if not call.retry_safe or attempt + 1 >= self.retry.attempts:
                    raise ConnectionFailed(f"{call.method} {call.path}: {exc or type(exc).__name__}") from exc
                response = None
            finally:
                for handle in handles:
                    handle.close()
            if response is not None and (
                response.status_code not in RETRY_STATUSES or attempt + 1 >= self.retry.attempts
            ):
                return response
            await asyncio.sleep(self.retry.delay(attempt, response))
            attempt += 1

    async def wait(
        self, op_id: str, *, timeout_s: float = 600.0, progress: Progress | None = None, check: bool = True
    ) -> Operation:
        """Wait until the operation ends (long polls on ``GET /operations/{id}?wait=``); ``progress`` sees each
        state; ``check`` raises ``OperationFailed`` unless it succeeded."""
        deadline = time.monotonic() + timeout_s
        step = PROGRESS_POLL_S if progress else QUIET_POLL_S
        while True:
            began = time.monotonic()
            op = await self.send(calls.op_get(op_id, wait=min(step, max(0.1, deadline - began))))
            if progress is not None:
                shown = progress(op)
                if shown is not None:
                    await shown
            if op.done or time.monotonic() >= deadline:
                break
            await asyncio.sleep(max(0.0, min(step, PROGRESS_POLL_S) - (time.monotonic() - began)))
        if check and op.state != "succeeded":
            raise OperationFailed(op)
        return op

    async def follow(self, call: Call[None]) -> AsyncIterator[tuple[str, str]]:
        """The ``(event, data)`` pairs of a Server-Sent Events call, such as ``calls.service_logs_follow``."""
        timeout = httpx.Timeout(None, connect=10.0)
        async with self._http.stream("GET", call.path, params=call.params, timeout=timeout) as response:
            if response.status_code >= 400:
                await response.aread()
                raise_for(response)
            event, data = "message", list[str]()
            async for line in response.aiter_lines():
                if not line:
                    if data:
                        yield event, "\n".join(data)
                    event, data = "message", []
                elif not line.startswith(":"):
                    name, _, value = line.partition(":")
                    if name == "event":
                        event = value.removeprefix(" ")
                    elif name == "data":
                        data.append(value.removeprefix(" "))
