"""What an operation kind looks like to the runner."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from pydantic import BaseModel

if TYPE_CHECKING:
    from cloudfaster.core.runner.context import OperationContext

P = TypeVar("P", bound=BaseModel)


class RetryableError(Exception):
    """A transient failure: the operation is retried later with backoff, up to the attempt limit."""

    def __init__(self, message: str, *, code: str = "transient_error") -> None:
        super().__init__(message)
        self.code = code


class OperationFailedError(Exception):
    """A permanent failure with a stable code and details for the client."""

    def __init__(self, message: str, *, code: str = "operation_failed", details: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.details = details


class OperationKind(Protocol[P]):
    """A kind of slow work. ``run`` must be safe to resume: use ``ctx.step`` for every side effect.

    ``params`` is the pydantic model of the operation's parameters: the runner validates the stored params with it
    and hands the kind a typed ``ctx.params``.
    """

    name: str
    params: type[P]

    async def run(self, ctx: OperationContext[P]) -> dict[str, Any]:
        """Do the work; the returned dict becomes the operation's result."""
        ...

    async def on_failure(self, ctx: OperationContext[P], error: OperationFailedError) -> None:
        """Undo or mark what a failed run leaves behind (e.g. set the resource to ``failed``)."""
        ...
