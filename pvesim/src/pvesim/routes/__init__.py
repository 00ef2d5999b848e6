"""All API route tables."""

from __future__ import annotations

from pvesim.routes import access, agent, cluster, console, guests, nodes, power, tasks
from pvesim.routing import Handler


def all_routes() -> dict[tuple[str, str], Handler]:
    """Return every served (method, schema path) with its handler."""
    merged: dict[tuple[str, str], Handler] = {}
    for module in (access, cluster, nodes, guests, power, console, agent, tasks):
        merged.update(module.table.handlers)
    return merged
