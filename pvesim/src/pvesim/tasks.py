"""PVE worker tasks: UPIDs, durations, status and logs (pve-common src/PVE/UPID.pm, RESTEnvironment.pm)."""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from pvesim.errors import TaskError

UPID_RE = re.compile(
    r"^UPID:([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?):([0-9A-Fa-f]{8}):([0-9A-Fa-f]{8,9}):"
    r"([0-9A-Fa-f]{8}):([^:\s]+):([^:\s]*):([^:\s]+):$"
)

Worker = Callable[["Task"], None]
Cleanup = Callable[["Task", str], None]


def encode_upid(node: str, pid: int, pstart: int, starttime: int, kind: str, task_id: str, user: str) -> str:
    """Build a UPID exactly as UPID.pm `encode` does, trailing colon included."""
    return f"UPID:{node}:{pid:08X}:{pstart:08X}:{starttime:08X}:{kind}:{task_id}:{user}:"


def decode_upid(upid: str) -> dict[str, Any] | None:
    """Decode a UPID into its fields, or None if it does not parse (UPID.pm `decode`)."""
    match = UPID_RE.match(upid)
    if match is None:
        return None
    return {
        "node": match.group(1),
        "pid": int(match.group(3), 16),
        "pstart": int(match.group(4), 16),
        "starttime": int(match.group(5), 16),
        "type": match.group(6),
        "id": match.group(7),
        "user": match.group(8),
    }


@dataclass
class Task:
    """A worker task and its log."""

    upid: str
    node: str
    pid: int
    pstart: int
    starttime: int
    type: str
    id: str
    user: str
    status: str = "running"
    exitstatus: str | None = None
    endtime: int | None = None
    log: list[str] = field(default_factory=list)

    def status_json(self) -> dict[str, Any]:
        """Return the task status as `GET …/tasks/{upid}/status` does (Tasks.pm `read_task_status`)."""
        data: dict[str, Any] = {
            "upid": self.upid,
            "node": self.node,
            "pid": self.pid,
            "pstart": self.pstart,
            "starttime": self.starttime,
            "type": self.type,
            "id": self.id,
            "user": self.user,
            "status": self.status,
        }
        # Tasks.pm $convert_token_task: tokens are reported as user + tokenid.
        if "!" in self.user:
            data["user"], data["tokenid"] = self.user.split("!", 1)
        if self.status == "stopped":
            data["exitstatus"] = self.exitstatus
        return data

    def list_json(self) -> dict[str, Any]:
        """Return the task as an entry of `GET /nodes/{node}/tasks`."""
        data = self.status_json()
        data.pop("exitstatus", None)
        data.pop("tokenid", None)
        data["user"] = self.user
        if self.status == "stopped":
            data["status"] = self.exitstatus
            data["endtime"] = self.endtime
        else:
            data.pop("status")
        return data

    @property
    def failed(self) -> bool:
        """Return True when stopped with an error (UPID.pm `status_is_error`)."""
        return self.status == "stopped" and self.exitstatus != "OK" and not str(self.exitstatus).startswith("WARNINGS")


class TaskManager:
    """Creates tasks, runs their workers after the configured duration and keeps them for status queries."""

    def __init__(
        self,
        duration_of: Callable[[str], float],
        injected_failure: Callable[[str], str | None],
        on_change: Callable[[], None],
    ) -> None:
        self.tasks: dict[str, Task] = {}
        self._duration_of = duration_of
        self._injected_failure = injected_failure
        self._on_change = on_change
        self._handles: dict[str, asyncio.TimerHandle] = {}
        self._cleanups: dict[str, Cleanup] = {}
        self._pid = random.randint(1_000_000, 2_000_000)
        self._pstart = random.randint(10_000_000, 90_000_000)

    def spawn(
        self,
        node: str,
        kind: str,
        task_id: str,
        user: str,
        worker: Worker,
        *,
        cleanup: Cleanup | None = None,
        first_lines: list[str] | None = None,
        duration: float | None = None,
        begin: Worker | None = None,
    ) -> Task:
        """Start a task; its worker runs when the duration has passed (at once for zero).

        ``begin`` runs first, inside the task (what a PVE worker does before its slow part, e.g. taking a lock): a
        ``TaskError`` from it ends the task at once with that error, and the worker never runs.
        """
        self._pid += 1
        self._pstart += 7
        starttime = int(time.time())
        upid = encode_upid(node, self._pid, self._pstart, starttime, kind, task_id, user)
        task = Task(upid, node, self._pid, self._pstart, starttime, kind, task_id, user, log=list(first_lines or []))
        self.tasks[upid] = task
        if begin is not None:
            try:
                begin(task)
            except TaskError as exc:
                self._stop(task, exc.message)
                return task
        if cleanup is not None:
            self._cleanups[upid] = cleanup
        seconds = self._duration_of(kind) if duration is None else duration
        if seconds <= 0:
            self._finish(task, worker)
        else:
            loop = asyncio.get_running_loop()
            self._handles[upid] = loop.call_later(seconds, self._finish, task, worker)
        self._on_change()
        return task

    def start(self, node: str, kind: str, task_id: str, user: str, *, first_lines: list[str] | None = None) -> Task:
        """Start a task that runs until `end` is called (a console proxy lives as long as its connection)."""
        self._pid += 1
        self._pstart += 7
        starttime = int(time.time())
        upid = encode_upid(node, self._pid, self._pstart, starttime, kind, task_id, user)
        task = Task(upid, node, self._pid, self._pstart, starttime, kind, task_id, user, log=list(first_lines or []))
        self.tasks[upid] = task
        self._on_change()
        return task

    def end(self, task: Task, error: str | None = None) -> None:
        """Stop a task started with `start`: OK, or `TASK ERROR: <error>`."""
        if task.status == "running":
            self._stop(task, error)

    def _finish(self, task: Task, worker: Worker) -> None:
        self._handles.pop(task.upid, None)
        cleanup = self._cleanups.pop(task.upid, None)
        error = self._injected_failure(task.type)
        if error is None:
            try:
                worker(task)
            except TaskError as exc:
                error = exc.message
        if error is not None and cleanup is not None:
            cleanup(task, error)
        self._stop(task, error)

    def _stop(self, task: Task, error: str | None) -> None:
        task.status = "stopped"
        task.endtime = int(time.time())
        if error is None:
            task.exitstatus = "OK"
            task.log.append("TASK OK")
        else:
            task.exitstatus = error
            task.log.append(f"TASK ERROR: {error}")
        self._on_change()

    def abort(self, upid: str) -> None:
        """Stop a running task as `DELETE …/tasks/{upid}` does."""
        task = self.tasks[upid]
        handle = self._handles.pop(upid, None)
        if handle is None or task.status != "running":
            return
        handle.cancel()
        error = "interrupted by signal"
        cleanup = self._cleanups.pop(upid, None)
        if cleanup is not None:
            cleanup(task, error)
        self._stop(task, error)

    def to_json(self) -> list[dict[str, Any]]:
        """Serialise tasks for the state file."""
        return [asdict(t) for t in self.tasks.values()]

    def load_json(self, data: list[dict[str, Any]]) -> None:
        """Restore tasks from a state file; tasks that were running end as `unexpected status`."""
        for entry in data:
            task = Task(**entry)
            if task.status == "running":
                task.status = "stopped"
                task.exitstatus = "unexpected status"
                task.endtime = int(time.time())
            self.tasks[task.upid] = task

    def shutdown(self) -> None:
        """Cancel all pending timers."""
        for handle in self._handles.values():
            handle.cancel()
        self._handles.clear()
