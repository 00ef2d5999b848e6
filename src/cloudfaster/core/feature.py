"""What the composition root asks of a feature (the VM half, the Docker half)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from cloudfaster.core.runner.kinds import OperationKind


class Feature(Protocol):
    """A feature's operation kinds, readiness probe and start-up and shutdown work."""

    name: str

    def kinds(self) -> Iterable[OperationKind[Any]]:
        """The operation kinds the runner must know."""
        ...

    async def probe(self) -> dict[str, Any]:
        """Whether the feature's upstream answers (reported by /readyz); ``ok`` says it."""
        ...

    async def start(self, *, run_worker: bool) -> None:
        """Connect upstreams; start background loops only where ``run_worker`` (this process runs operations)."""
        ...

    async def stop(self) -> None:
        """Stop background loops and disconnect."""
        ...
