"""The blocking client: ``Client(url, key).send(calls.vm_get(101))``, ``wait()``, ``follow()``."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any, TypeVar

import httpx

from cloudfaster.client import calls
from cloudfaster.client._core import RETRY_ERRORS, RETRY_STATUSES, USER_AGENT, Call, RetryPolicy, raise_for
from cloudfaster.client.errors import ConnectionFailed, OperationFailed
from cloudfaster.client.models import Operation

T = TypeVar("T")
Progress = Callable[[Operation], None]
# With a progress callback each long poll is short, so that steps show while they happen.
PROGRESS_POLL_S = 0.5
QUIET_POLL_S = 20.0


class Client:
    """A CloudFaster API client on ``httpx.Client``; use it as a context manager, or ``close()`` it."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"X-API-Key": api_key, "User-Agent": USER_AGENT},
            timeout=httpx.Timeout(timeout, connect=10.0),
            transport=transport,
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object | TracebackType) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def send(self, call: Call[T]) -> T:
        """Make the call, retrying 429/503 (after Retry-After) and, when safe, broken connections."""
        response = self._response(call)
        raise_for(response)
        return call.parse(response)

    def _response(self, call: Call[Any]) -> httpx.Response:
        attempt = 0
        while True:
            parts, handles = call.open_form()
            try:
                response = self._http.request(
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
            time.sleep(self.retry.delay(attempt, response))
            attempt += 1

    def wait(
        self, op_id: str, *, timeout_s: float = 600.0, progress: Progress | None = None, check: bool = True
    ) -> Operation:
        """Block until the operation ends (long polls on ``GET /operations/{id}?wait=``); ``progress`` sees each
        state; ``check`` raises ``OperationFailed`` unless it succeeded."""
        deadline = time.monotonic() + timeout_s
        step = PROGRESS_POLL_S if progress else QUIET_POLL_S
        while True:
            began = time.monotonic()
            op = self.send(calls.op_get(op_id, wait=min(step, max(0.1, deadline - began))))
            if progress is not None:
                progress(op)
            if op.done or time.monotonic() >= deadline:
                break
            # A server without ?wait= answers at once: do not turn that into a busy loop.
            time.sleep(max(0.0, min(step, PROGRESS_POLL_S) - (time.monotonic() - began)))
        if check and op.state != "succeeded":
            raise OperationFailed(op)
        return op

    def follow(self, call: Call[None]) -> Iterator[tuple[str, str]]:
        """The ``(event, data)`` pairs of a Server-Sent Events call, such as ``calls.service_logs_follow``."""
        with self._http.stream(
            "GET", call.path, params=call.params, timeout=httpx.Timeout(None, connect=10.0)
        ) as response:
            if response.status_code >= 400:
                response.read()
                raise_for(response)
            yield from _events(response.iter_lines())


def _events(lines: Iterator[str]) -> Iterator[tuple[str, str]]:
    """Server-Sent Events from text lines (event, data; comments and pings skipped)."""
    event, data = "message", list[str]()
    for line in lines:
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = "message", list[str]()
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)


def error_text(data: str) -> str:
    """The message of an SSE ``error`` event."""
    with contextlib.suppress(ValueError):
        return str(json.loads(data).get("message", data))
    return data
