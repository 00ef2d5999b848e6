"""The OpenAPI document: every route but the health probes takes the ``X-API-Key`` header."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
SCHEME = {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "Your CloudFaster API key"}


def install_api_key_docs(app: FastAPI) -> None:
    """Describe the API key scheme once and require it on every protected operation (shown in /docs)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, summary=app.summary, description=app.description,
                routes=app.routes,
            )  # fmt: skip
            schema.setdefault("components", {}).setdefault("securitySchemes", {})["APIKeyHeader"] = SCHEME
            for path, operations in schema.get("paths", {}).items():
                if path in PUBLIC_PATHS:
                    continue
                for operation in operations.values():
                    operation["security"] = [{"APIKeyHeader": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
