"""All API route tables."""

from __future__ import annotations

from pvesim.routes import access, agent, backups, cluster, config, console, guests, nodes, power, rrd, snapshots, tasks
from pvesim.routing import Handler


def all_routes() -> dict[tuple[str, str], Handler]:
    """Return every served (method, schema path) with its handler."""
    merged: dict[tuple[str, str], Handler] = {}
    for module in (access, cluster, nodes, guests, config, power, console, agent, tasks, snapshots, backups, rrd):
        merged.update(module.table.handlers)
    return merged
