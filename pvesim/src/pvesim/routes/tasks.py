"""Task endpoints: list, status, log and stop (pve-manager PVE/API2/Tasks.pm)."""

from __future__ import annotations

from typing import Any

from pvesim.errors import PveError
from pvesim.routing import Call, Reply, RouteTable
from pvesim.tasks import Task, decode_upid

table = RouteTable()


def _task(call: Call) -> Task:
    upid = str(call.params["upid"])
    decoded = decode_upid(upid)
    if decoded is None:
        raise PveError(400, "Parameter verification failed.", {"upid": "unable to parse worker upid"})
    task = call.sim.tasks.tasks.get(upid)
    if task is None or decoded["node"] != call.node:
        raise PveError(400, "Parameter verification failed.", {"upid": "no such task"})
    return task


@table.route("GET", "/nodes/{node}/tasks/{upid}/status")
def task_status(call: Call) -> dict[str, Any]:
    """Return running/stopped and, once stopped, the exit status."""
    return _task(call).status_json()


@table.route("GET", "/nodes/{node}/tasks/{upid}/log")
def task_log(call: Call) -> Reply:
    """Return log lines `[{n, t}]` with `total`."""
    task = _task(call)
    start = int(call.params.get("start", 0))
    limit = int(call.params.get("limit", 50))
    lines = task.log or ["no content"]
    window = lines[start : start + limit] if limit > 0 else lines[start:]
    data = [{"n": start + i + 1, "t": text} for i, text in enumerate(window)]
    return Reply(data, {"total": len(lines)})


@table.route("DELETE", "/nodes/{node}/tasks/{upid}")
def stop_task(call: Call) -> None:
    """Stop a running task."""
    task = _task(call)
    call.sim.tasks.abort(task.upid)


@table.route("GET", "/nodes/{node}/tasks")
def list_tasks(call: Call) -> Reply:
    """List the node's tasks, newest first, with the usual filters."""
    params = call.params
    source = params.get("source", "archive")
    tasks = [t for t in call.sim.tasks.tasks.values() if t.node == call.node]
    if source == "archive":
        tasks = [t for t in tasks if t.status == "stopped"]
    elif source == "active":
        tasks = [t for t in tasks if t.status == "running"]
    if "vmid" in params:
        tasks = [t for t in tasks if t.id == str(params["vmid"])]
    if "typefilter" in params:
        tasks = [t for t in tasks if t.type == params["typefilter"]]
    if "userfilter" in params:
        tasks = [t for t in tasks if str(params["userfilter"]) in t.user]
    if params.get("errors"):
        tasks = [t for t in tasks if t.failed]
    if "since" in params:
        tasks = [t for t in tasks if t.starttime >= int(params["since"])]
    if "until" in params:
        tasks = [t for t in tasks if t.starttime <= int(params["until"])]
    tasks.sort(key=lambda t: (t.starttime, t.pid), reverse=True)
    start = int(params.get("start", 0))
    limit = int(params.get("limit", 50))
    return Reply([t.list_json() for t in tasks[start : start + limit]], {"total": len(tasks)})
