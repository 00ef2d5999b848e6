"""What the sync and the async client share: calls as data, retry rules, error decoding, upload readers."""

from __future__ import annotations

import email.utils
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Generic, TypeVar

import httpx
from pydantic import TypeAdapter

from cloudfaster.client.errors import ApiError

T = TypeVar("T")

USER_AGENT = "cloudfaster-client/0.1"
RETRY_STATUSES = frozenset({429, 503})
# Transport errors after which a request may not have reached the server, or its answer was lost.
RETRY_ERRORS: tuple[type[Exception], ...] = (httpx.TransportError,)
UploadProgress = Callable[[int, int], None]


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry 429, 503 and broken connections."""

    attempts: int = 5
    backoff_s: float = 0.25
    max_delay_s: float = 30.0

    def delay(self, attempt: int, response: httpx.Response | None) -> float:
        """Seconds to wait before attempt ``attempt + 1``: the server's Retry-After, else exponential backoff."""
        if response is not None:
            after = retry_after(response.headers.get("Retry-After"))
            if after is not None:
                return min(after, self.max_delay_s)
        return min(self.backoff_s * 2.0**attempt, self.max_delay_s)


def retry_after(value: str | None) -> float | None:
    """A Retry-After header (seconds or an HTTP date) as seconds from now."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


@dataclass
class Upload:
    """A file sent as one multipart field, read from disk in chunks (never whole), with optional progress."""

    field: str
    path: Path
    content_type: str = "application/zip"
    progress: UploadProgress | None = None

    def open(self) -> tuple[str, IO[bytes], str]:
        """A fresh reader for one attempt (``httpx`` streams it chunk by chunk)."""
        handle = self.path.open("rb")
        reader: IO[bytes] = handle if self.progress is None else _Counting(handle, self.progress)  # type: ignore[assignment]
        return (self.path.name, reader, self.content_type)


class _Counting:
    """A binary file that reports how much of it has been read."""

    def __init__(self, handle: IO[bytes], progress: UploadProgress) -> None:
        self._handle = handle
        self._progress = progress
        self._total = os.fstat(handle.fileno()).st_size
        self._done = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self._handle.read(size)
        self._done += len(chunk)
        self._progress(self._done, self._total)
        return chunk

    def fileno(self) -> int:
        return self._handle.fileno()

    def seek(self, offset: int, whence: int = 0) -> int:
        position = self._handle.seek(offset, whence)
        if whence == 0 and offset == 0:
            self._done = 0
        return position

    def tell(self) -> int:
        return self._handle.tell()

    def close(self) -> None:
        self._handle.close()


@dataclass
class Call(Generic[T]):
    """One API call: what to send and how to read the answer; ``idempotent`` calls get an Idempotency-Key."""

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    data: dict[str, Any] | None = None
    uploads: list[Upload] = field(default_factory=list)
    idempotent: bool = False
    idempotency_key: str | None = None
    stream: bool = False

    def __post_init__(self) -> None:
        self.params = {k: v for k, v in self.params.items() if v is not None}
        if self.idempotent and self.idempotency_key is None:
            self.idempotency_key = str(uuid.uuid4())

    def open_form(self) -> tuple[list[tuple[str, Any]], list[IO[bytes]]]:
        """The multipart parts of a form call (fields and fresh file readers), and the readers to close after.

        Fields go as parts without a filename, so a form is multipart even without a file, as ``curl -F`` sends it.
        """
        if self.data is None and not self.uploads:
            return [], []
        parts: list[tuple[str, Any]] = []
        for name, value in (self.data or {}).items():
            for item in value if isinstance(value, list) else [value]:
                parts.append((name, (None, str(item))))
        handles = []
        for upload in self.uploads:
            opened = upload.open()
            handles.append(opened[1])
            parts.append((upload.field, opened))
        return parts, handles

    @property
    def retry_safe(self) -> bool:
        """Whether repeating it after a lost answer cannot do the work twice."""
        return self.method in ("GET", "HEAD") or self.idempotency_key is not None

    def headers(self) -> dict[str, str]:
        """Headers of this call beyond the client's own."""
        return {"Idempotency-Key": self.idempotency_key} if self.idempotency_key else {}


def model(kind: Any) -> Callable[[httpx.Response], Any]:
    """A parser that validates the JSON body as ``kind``."""
    adapter: TypeAdapter[Any] = TypeAdapter(kind)
    return lambda response: adapter.validate_json(response.content)


def nothing(_: httpx.Response) -> None:
    """A parser for answers without a body."""
    return None


def raise_for(response: httpx.Response) -> None:
    """Raise ``ApiError`` with the API's code and message for any 4xx or 5xx answer."""
    if response.status_code < 400:
        return
    code, message, details = f"http_{response.status_code}", response.reason_phrase or "error", None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        code = str(error.get("code", code))
        message = str(error.get("message", message))
        details = error.get("details")
    raise ApiError(response.status_code, code, message, details, response.headers.get("X-Request-ID"))
