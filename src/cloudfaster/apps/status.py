"""The statuses of a service and which status each may be entered from; ``store.set_status`` checks every change
against this table."""

from __future__ import annotations

from cloudfaster.core.lifecycle import Lifecycle

CREATING = "creating"
RUNNING = "running"
STOPPED = "stopped"
DEGRADED = "degraded"  # some container removed, stopped or unhealthy
MISSING = "missing"  # no container at all
FAILED = "failed"
STARTING, STOPPING, RESTARTING = "starting", "stopping", "restarting"
DEPLOYING = "deploying"
DELETING = "deleting"
DELETED = "deleted"

# Where start, stop, restart and deploy may begin.
ACTIONABLE = frozenset({RUNNING, STOPPED, DEGRADED})
# What an action or deploy ends in: what `ps` says, or failed when Docker cannot tell.
SETTLED = frozenset({RUNNING, STOPPED, DEGRADED, FAILED})
# Services that should have running containers: the ones we run, and the ones reconcile marked.
WATCHED = frozenset({RUNNING, DEGRADED, MISSING})
# Services whose names route to them through the proxy: the watched ones, and those being restarted or redeployed
# (their name must not go away meanwhile).
ROUTED = WATCHED | {RESTARTING, DEPLOYING}
TRANSITIONAL = frozenset({CREATING, STARTING, STOPPING, RESTARTING, DEPLOYING, DELETING})

SERVICE_LIFECYCLE = Lifecycle(
    "service",
    {
        CREATING: (),  # a new row only
        STARTING: ACTIONABLE,
        STOPPING: ACTIONABLE,
        RESTARTING: ACTIONABLE,
        DEPLOYING: ACTIONABLE,
        # Delete works from anything but deleted, also from a transitional status an interrupted operation left.
        DELETING: (ACTIONABLE | WATCHED | TRANSITIONAL | {FAILED}) - {DELETING},
        RUNNING: {CREATING, STARTING, STOPPING, RESTARTING, DEPLOYING, DEGRADED, MISSING},
        STOPPED: {STARTING, STOPPING, RESTARTING, DEPLOYING},
        DEGRADED: {STARTING, STOPPING, RESTARTING, DEPLOYING, RUNNING, MISSING},
        MISSING: {RUNNING, DEGRADED},
        FAILED: {CREATING, STARTING, STOPPING, RESTARTING, DEPLOYING, DELETING},
        DELETED: {DELETING},
    },
)
