"""Adds this feature's routes, operation kinds, readiness probes and lifespan hooks to an app."""

from __future__ import annotations

from fastapi import FastAPI

from cloudfaster.api.state import AppState


def install(app: FastAPI, state: AppState) -> None:
    """Wire the feature into ``app``."""
