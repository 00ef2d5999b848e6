"""When to first poll a task just started: a little before the same kind of task has lately ended on that node."""

from __future__ import annotations

from collections import deque

# The first poll comes at this share of the shortest of the last RECENT successful durations, at most QUIET_CAP_S
# after the start: a task faster than any of them is seen at most that late, and one as slow as usual costs one or
# two polls instead of one every interval (a 2 s clone polled every 0.1 s: about 4 polls instead of 20).
QUIET_SHARE = 0.8
QUIET_CAP_S = 5.0
RECENT = 8


def task_kind(upid: str) -> tuple[str, str, str]:
    """What tasks are alike: the node and type, and for a clone its source, whose disks set how long it takes.

    ``UPID:<node>:<pid>:<pstart>:<starttime>:<type>:<id>:<user>:``; a ``qmclone`` task's id is the VM cloned
    from, not the new one (qemu-server PVE/API2/Qemu.pm ``clone_vm``: ``fork_worker('qmclone', $vmid, ...)``).
    """
    parts = upid.split(":")
    if len(parts) < 9 or parts[0] != "UPID":
        raise ValueError(f"not a UPID: {upid!r}")
    node, kind, ident = parts[1], parts[5], parts[6]
    return node, kind, ident if kind == "qmclone" else ""


class TaskPacing:
    """The recent durations of each kind of task, and how long a new one of that kind is left alone."""

    def __init__(self) -> None:
        self._recent: dict[tuple[str, str, str], deque[float]] = {}

    def quiet_s(self, upid: str) -> float:
        """Seconds to wait before the first poll of a task started just now (0 for a kind not seen yet)."""
        recent = self._recent.get(task_kind(upid))
        return min(QUIET_CAP_S, QUIET_SHARE * min(recent)) if recent else 0.0

    def record(self, upid: str, seconds: float) -> None:
        """A task started ``seconds`` before it was seen to end successfully."""
        self._recent.setdefault(task_kind(upid), deque(maxlen=RECENT)).append(seconds)
