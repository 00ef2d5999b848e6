"""Domain errors: each carries an HTTP status and a stable machine-readable code."""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    """Base of every error CloudFaster reports to a client."""

    status_code = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details
        self.headers = headers or {}


class BadRequestError(AppError):
    """The request is malformed."""


class ValidationFailedError(AppError):
    """The request is well-formed but its values are not acceptable."""

    status_code = 422
    code = "validation_failed"


class UnauthorizedError(AppError):
    """No API key, or one that is wrong, revoked or expired."""

    status_code = 401
    code = "unauthorized"


class ForbiddenError(AppError):
    """The caller is known but not allowed to do this."""

    status_code = 403
    code = "forbidden"


class NotFoundError(AppError):
    """The resource does not exist, or belongs to someone else."""

    status_code = 404
    code = "not_found"


class ConflictError(AppError):
    """The request conflicts with the current state."""

    status_code = 409
    code = "conflict"


class QuotaExceededError(AppError):
    """The user's quota does not allow this."""

    status_code = 409
    code = "quota_exceeded"


class PayloadTooLargeError(AppError):
    """The request body is over the configured limit."""

    status_code = 413
    code = "payload_too_large"


class RateLimitedError(AppError):
    """Too many requests for this key."""

    status_code = 429
    code = "rate_limited"


class UpstreamUnavailableError(AppError):
    """A dependency (database, Proxmox, Docker) cannot be reached."""

    status_code = 503
    code = "upstream_unavailable"
