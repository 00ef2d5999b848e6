"""Typed errors of the `docker compose` client; each carries a stable, machine-readable ``code``.

```
ComposeError
└── ComposeCommandError        compose ran and failed (``output``, ``returncode``)
    ├── ComposeTimeoutError     it overran (its process group was killed)
    └── ComposeUnavailableError it could not be started at all
```
"""

from __future__ import annotations


class ComposeError(Exception):
    """Base of every error raised by this package."""

    code: str = "compose_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class ComposeCommandError(ComposeError):
    """`docker compose` failed; ``output`` holds what it printed."""

    code = "compose_failed"

    def __init__(
        self, message: str, *, output: str = "", returncode: int | None = None, code: str | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.output = output
        self.returncode = returncode


class ComposeTimeoutError(ComposeCommandError):
    """`docker compose` did not finish in time (its process group was killed)."""

    code = "compose_timeout"


class ComposeUnavailableError(ComposeCommandError):
    """The `docker compose` command could not be started at all."""

    code = "compose_unavailable"
