"""Exceptions that become PVE-shaped HTTP error responses."""

from __future__ import annotations


class PveError(Exception):
    """An API error: status code, PVE message (also the HTTP reason phrase) and optional field errors."""

    def __init__(
        self,
        status: int,
        message: str,
        errors: dict[str, str] | None = None,
        *,
        empty_body: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors
        self.empty_body = empty_body

    @property
    def reason(self) -> str:
        """Return the reason phrase: the first line of the message (pve-http-server AnyEvent `response`)."""
        return self.message.split("\n", 1)[0]


def param_error(errors: dict[str, str]) -> PveError:
    """Return the 400 `Parameter verification failed.` error carrying per-field messages."""
    return PveError(400, "Parameter verification failed.", errors)


def runtime_error(message: str) -> PveError:
    """Return the 500 error PVE sends when a handler dies before forking a worker."""
    return PveError(500, message)


class TaskError(Exception):
    """Raised inside a task worker: the task ends with `TASK ERROR: <message>`."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
