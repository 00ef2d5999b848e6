"""Which status changes a resource may make: one table per resource kind, checked where status is written."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from cloudfaster.core.errors import ConflictError


class StatusTransitionError(ConflictError):
    """A status change the resource's lifecycle does not allow (a bug, or a race lost to another writer)."""

    code = "invalid_status_transition"


@dataclass(frozen=True)
class Lifecycle:
    """The statuses of one kind of resource and, for each, the statuses it may be entered from."""

    resource: str
    entered_from: Mapping[str, Collection[str]]
    statuses: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        known = set(self.entered_from)
        for sources in self.entered_from.values():
            known.update(sources)
        object.__setattr__(self, "statuses", frozenset(known))

    def sources(self, new: str) -> frozenset[str]:
        """The statuses from which ``new`` may be entered (a status may always be written again)."""
        if new not in self.statuses:
            raise ValueError(f"{self.resource}: unknown status {new!r}")
        return frozenset({*self.entered_from.get(new, ()), new})

    def check(self, current: str, new: str) -> None:
        """Raise ``StatusTransitionError`` unless ``current`` may become ``new``."""
        if current not in self.sources(new):
            raise StatusTransitionError(
                f"{self.resource} cannot go from {current!r} to {new!r}",
                details={"from": current, "to": new},
            )
