"""The SDK's exceptions: every failure the API reports carries its stable ``code`` and ``message``."""

from __future__ import annotations

from typing import Any

__all__ = ["ApiError", "CloudFasterError", "ConnectionFailed", "OperationFailed"]


class CloudFasterError(Exception):
    """Base of every error the SDK raises."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class ApiError(CloudFasterError):
    """The API answered with an error (``{"error": {"code", "message", "details"}}``)."""

    def __init__(
        self, status: int, code: str, message: str, details: Any = None, request_id: str | None = None
    ) -> None:
        super().__init__(code, message)
        self.status = status
        self.details = details
        self.request_id = request_id


class OperationFailed(CloudFasterError):
    """An operation ended ``failed`` or ``cancelled``; ``operation`` is its last state."""

    def __init__(self, operation: Any) -> None:
        error = operation.error or {}
        super().__init__(
            str(error.get("code", operation.state)), str(error.get("message", f"operation {operation.state}"))
        )
        self.operation = operation


class ConnectionFailed(CloudFasterError):
    """The server could not be reached, or the connection broke, and retrying did not help."""

    def __init__(self, message: str) -> None:
        super().__init__("connection_failed", message)
