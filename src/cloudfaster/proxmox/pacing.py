"""When to first poll a task just started: a little before the same kind of task has lately ended on that node."""

from __future__ import annotations

from collections import deque

# The first poll comes at this share of the shortest of the last RECENT successful durations, at most QUIET_CAP_S
# after the start: a task faster than any of them is seen at most a tenth of that later than at full rate, and one as
# slow as usual costs one or two polls instead of one every interval (in a burst of 100 creates, a 2 s clone was read
# 2-3 times at 0.9, against 3-5 times at 0.8 and 20 times unpaced).
QUIET_SHARE = 0.9
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
    """The recent durations of each kind of task, and how long a new one of that kind is left alone.

    A kind not seen yet takes after the closest one seen: the same type on the same node (another clone source),
    then the same type on any node. The tasks of a burst start together, so none of them has its own kind's history
    yet; left without one, 100 clones at once were each read six times or more.
    """

    def __init__(self) -> None:
        self._recent: dict[tuple[str, str, str], deque[float]] = {}

    def quiet_s(self, upid: str) -> float:
        """Seconds to wait before the first poll of a task started just now (0 for a type not seen yet)."""
        node, kind, ident = task_kind(upid)
        for key in ((node, kind, ident), (node, kind, "*"), ("*", kind, "*")):
            if recent := self._recent.get(key):
                return min(QUIET_CAP_S, QUIET_SHARE * min(recent))
        return 0.0

    def record(self, upid: str, seconds: float) -> None:
        """A task started ``seconds`` before it was seen to end successfully."""
        node, kind, ident = task_kind(upid)
        for key in {(node, kind, ident), (node, kind, "*"), ("*", kind, "*")}:
            self._recent.setdefault(key, deque(maxlen=RECENT)).append(seconds)
