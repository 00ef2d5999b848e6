"""Typed errors of the compose package; each carries a stable, machine-readable ``code``."""

from __future__ import annotations


class ComposeDomainError(Exception):
    """Base of every error raised by this package."""

    code: str = "compose_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class TemplateError(ComposeDomainError):
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


class LayoutError(ComposeDomainError):
    """A name or path for the on-disk layout is unsafe."""

    code = "name_invalid"


class IntakeError(ComposeDomainError):
    """Hostile or unusable source input (ZIP upload or git repository)."""

    code = "intake_failed"


class ComposeCommandError(ComposeDomainError):
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
