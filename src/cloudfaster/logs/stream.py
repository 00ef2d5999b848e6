"""Fan-out of live log records to Server-Sent-Event subscribers; a slow subscriber loses records, never blocks."""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class StreamFilter:
    """Which records a subscriber wants."""

    level: int = logging.DEBUG
    userid: str | None = None
    resource: str | None = None

    def accepts(self, record: dict[str, Any]) -> bool:
        """Whether a record passes this filter."""
        if record["levelno"] < self.level:
            return False
        if self.userid is not None and record.get("userid") != self.userid:
            return False
        return self.resource is None or self.resource in (record.get("resource"), record.get("operation_id"))


@dataclass(eq=False)
class Subscriber:
    """One listener: a bounded queue on its own event loop and a count of what it missed."""

    filter: StreamFilter
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[dict[str, Any]]
    dropped: int = field(default=0)

    def offer(self, record: dict[str, Any]) -> None:
        """Queue a record, or count it as dropped when the queue is full (runs on ``loop``)."""
        try:
            self.queue.put_nowait(record)
        except asyncio.QueueFull:
            self.dropped += 1


class LogHub(logging.Handler):
    """A logging handler that hands each record to every matching subscriber without waiting."""

    def __init__(self, queue_size: int = 1000) -> None:
        super().__init__(level=logging.DEBUG)
        self.queue_size = queue_size
        self._subscribers: set[Subscriber] = set()
        self._lock = threading.Lock()

    @property
    def subscriber_count(self) -> int:
        """How many listeners are attached."""
        return len(self._subscribers)

    def subscribe(self, stream_filter: StreamFilter) -> Subscriber:
        """Attach a new listener on the running loop."""
        sub = Subscriber(stream_filter, asyncio.get_running_loop(), asyncio.Queue(self.queue_size))
        with self._lock:
            self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        """Detach a listener."""
        with self._lock:
            self._subscribers.discard(sub)

    def emit(self, record: logging.LogRecord) -> None:
        """Deliver a record to the subscribers that want it."""
        if not self._subscribers:
            return
        data = record_to_dict(record)
        with self._lock:
            targets = [sub for sub in self._subscribers if sub.filter.accepts(data)]
        for sub in targets:
            try:
                sub.loop.call_soon_threadsafe(sub.offer, data)
            except RuntimeError:  # the subscriber's loop is closed
                self.unsubscribe(sub)


RESERVED = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message"}


def record_to_dict(record: logging.LogRecord) -> dict[str, Any]:
    """A JSON-ready view of a record, with its extra fields."""
    data: dict[str, Any] = {
        "time": record.created,
        "level": record.levelname,
        "levelno": record.levelno,
        "logger": record.name,
        "message": record.getMessage(),
    }
    for key, value in record.__dict__.items():
        if key not in RESERVED and not key.startswith("_"):
            data[key] = value if isinstance(value, str | int | float | bool | None) else str(value)
    return data
