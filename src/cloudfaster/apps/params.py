"""The typed parameters of each service operation, stored on the operation row and validated by the runner.

No secret is stored here: a create names its secrets file instead (``apps.secrets``).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from cloudfaster.apps.spec import ResourceLimits

Action = Literal["start", "stop", "restart"]


class Limits(BaseModel):
    """The main container's resource limits."""

    cpus: float
    memory_mb: int
    pids: int

    @classmethod
    def of(cls, limits: ResourceLimits) -> Limits:
        """From the checked limits of a request."""
        return cls(**asdict(limits))

    def spec(self) -> ResourceLimits:
        """As the templates take them."""
        return ResourceLimits(cpus=self.cpus, memory_mb=self.memory_mb, pids=self.pids)


class ServiceParams(BaseModel):
    """What every service operation names: its service."""

    service_id: int


class StagedParams(ServiceParams):
    """An operation that moves a staged source tree into place (None: there is none)."""

    staged: str | None = None

    @property
    def staged_path(self) -> Path | None:
        """The staged directory, if any."""
        return Path(self.staged) if self.staged else None


class CreateParams(StagedParams):
    """``service.create``."""

    types: list[str]
    limits: Limits
    filebrowser_user: str
    secrets_ref: str
    source_digest: str | None = None


class ActionParams(ServiceParams):
    """``service.action``."""

    action: Action


class DeployParams(StagedParams):
    """``service.deploy`` (and ``service.rollback``); ``fetch`` (a push webhook) clones ``git_url`` at
    ``git_ref`` in the operation instead of on the request path."""

    source_type: str
    source_ref: str | None
    source_digest: str | None = None
    rollback_of: int | None = None
    fetch: bool = False
    git_url: str | None = None
    git_ref: str | None = None


class DatabaseParams(ServiceParams):
    """``service.db-export``, ``service.db-import`` and ``service.rotate-db-password``: ``handoff`` is a private
    staging directory (the uploaded dump, or the new password) that the operation removes when it ends."""

    engine: Literal["mysql", "postgres"] | None = None
    handoff: str | None = None

    @property
    def handoff_path(self) -> Path | None:
        """The handoff directory, if any."""
        return Path(self.handoff) if self.handoff else None


class PublishParams(ServiceParams):
    """``service.db-publish`` and ``service.db-unpublish``: the databases whose port goes on or off the bind
    address."""

    engines: list[Literal["mysql", "postgres"]]


class DeleteParams(ServiceParams):
    """``service.delete``."""
