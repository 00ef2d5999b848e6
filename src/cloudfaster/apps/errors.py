"""Errors of the Docker half, and how they and the compose client's errors become API and operation errors.

```
AppsDomainError                 the Docker half's own checks (each with a stable ``code``)
├── TemplateError               the service cannot be rendered
│   ├── SchemaError             a rendered file fails the Compose Specification schema
│   └── MacosUnavailableError   macOS disabled, or no usable /dev/kvm
├── LayoutError                 an unsafe name or path for the on-disk layout
└── IntakeError                 hostile or unusable source (ZIP upload or git repository)
```
and the API errors for what the server's own disk refuses (``storage_error``).
"""

from __future__ import annotations

import errno

from cloudfaster.compose.errors import ComposeCommandError, ComposeError, ComposeTimeoutError, ComposeUnavailableError
from cloudfaster.core.errors import AppError, PayloadTooLargeError, ValidationFailedError
from cloudfaster.core.runner.kinds import OperationFailedError, RetryableError

STATUS_413 = frozenset({"zip_too_large", "git_too_large"})


class AppsDomainError(Exception):
    """Base of the Docker half's own errors."""

    code: str = "apps_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class TemplateError(AppsDomainError):
    """The requested service cannot be rendered (unknown or incompatible types, missing ports, bad values)."""

    code = "template_invalid"


class SchemaError(TemplateError):
    """A rendered compose file does not validate against the Compose Specification schema."""

    code = "compose_schema_invalid"

    def __init__(self, message: str, errors: list[str]) -> None:
        super().__init__(message)
        self.errors = errors


class MacosUnavailableError(TemplateError):
    """macOS services are disabled or the host has no usable /dev/kvm."""

    code = "macos_unavailable"


class LayoutError(AppsDomainError):
    """A name or path for the on-disk layout is unsafe."""

    code = "name_invalid"


class IntakeError(AppsDomainError):
    """Hostile or unusable source input (ZIP upload or git repository)."""

    code = "intake_failed"


class InsufficientStorageError(AppError):
    """The server's disk (or quota) is full: 507, until an administrator frees space."""

    status_code = 507
    code = "insufficient_storage"


class ServerBusyError(AppError):
    """The server is out of file handles or memory for the moment: 503 with Retry-After."""

    status_code = 503
    code = "server_busy"


class StorageFailedError(AppError):
    """The server cannot write its own files (permissions, read-only or failing disk): an administrator's problem,
    so a 500 that says what failed rather than a 4xx or a 503."""

    status_code = 500
    code = "storage_failed"


FULL = frozenset({errno.ENOSPC, errno.EDQUOT})
BUSY = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM})


def storage_error(exc: OSError) -> AppError:
    """The API error for an OS error on the server's side of an upload or clone (not caused by its content)."""
    reason = exc.strerror or type(exc).__name__
    if exc.errno in FULL:
        return InsufficientStorageError(f"the server has no space left to store the upload ({reason})")
    if exc.errno in BUSY:
        return ServerBusyError(f"the server is busy ({reason}); try again", headers={"Retry-After": "5"})
    return StorageFailedError(f"the server could not write the upload ({reason}); an administrator must check it")


def invalid_request(exc: AppsDomainError) -> ValidationFailedError:
    """A check of the request failed: 422 with the check's code."""
    return ValidationFailedError(exc.message, code=exc.code)


def intake_error(exc: IntakeError) -> AppError:
    """The API error for a refused upload or repository: 413 for size, else 422, always with the intake code."""
    if exc.code in STATUS_413:
        return PayloadTooLargeError(exc.message, code=exc.code)
    return invalid_request(exc)


def operation_error(exc: ComposeError) -> RetryableError | OperationFailedError:
    """What a failed compose call means for an operation: Docker unreachable is retried, anything else fails it
    with compose's output."""
    if isinstance(exc, ComposeUnavailableError):
        return RetryableError(exc.message, code=exc.code)
    output = exc.output if isinstance(exc, ComposeCommandError) else ""
    if not isinstance(exc, ComposeTimeoutError) and "Cannot connect to the Docker daemon" in output:
        return RetryableError(exc.message, code="docker_unavailable")
    return OperationFailedError(exc.message, code=exc.code, details={"output": output})
