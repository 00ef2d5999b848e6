"""What the proxy client raises.

```
ProxyError
├── ProxyUnavailableError   the admin API does not answer (connection refused, timeout): retry later
└── ProxyRequestError       the admin API answered with an error status (the config was refused)
```
"""

from __future__ import annotations


class ProxyError(Exception):
    """A failure talking to the proxy's admin API."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ProxyUnavailableError(ProxyError):
    """The admin API did not answer."""


class ProxyRequestError(ProxyError):
    """The admin API refused a request; ``status`` and Caddy's ``error`` text say why."""

    def __init__(self, method: str, path: str, status: int, error: str) -> None:
        super().__init__(f"{method} {path}: {status} {error}".strip())
        self.status = status
        self.error = error
