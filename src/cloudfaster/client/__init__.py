"""The CloudFaster Python SDK: sync and async clients, typed answers, waits with progress, safe retries.

It imports nothing of the server (an import-linter contract checks this).
"""

from cloudfaster.client import calls
from cloudfaster.client._core import Call, RetryPolicy, Upload
from cloudfaster.client.aio import AsyncClient
from cloudfaster.client.errors import ApiError, CloudFasterError, ConnectionFailed, OperationFailed
from cloudfaster.client.models import Operation, Service, ServiceCreated, Vm
from cloudfaster.client.sync import Client

__all__ = [
    "ApiError",
    "AsyncClient",
    "Call",
    "Client",
    "CloudFasterError",
    "ConnectionFailed",
    "Operation",
    "OperationFailed",
    "RetryPolicy",
    "Service",
    "ServiceCreated",
    "Upload",
    "Vm",
    "calls",
]
