"""Fault injection: offline nodes, memory exhaustion, random 500s, latency and failing task types."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from pvesim.cluster import Cluster

# AnyEvent::HTTP puts connection failures in 595 with the OS error as reason (pve-http-server proxy_request).
UNREACHABLE_REASONS = ("No route to host", "Connection refused", "Connection timed out")


@dataclass
class Faults:
    """Mutable fault switches; safe to flip from another thread between requests."""

    cluster: Cluster
    error_rate: float = 0.0
    error_message: str = "pvesim: injected internal error"
    latency: float = 0.0
    failing_tasks: dict[str, str] = field(default_factory=dict)
    unreachable_reason: str = "No route to host"
    agent_down: set[int] = field(default_factory=set)  # VMs whose guest has no agent running

    def set_node_offline(self, node: str, offline: bool = True) -> None:
        """Mark a node offline (requests for it through another node get 595) or back online."""
        self.cluster.nodes[node].online = not offline

    def set_node_out_of_memory(self, node: str, out_of_memory: bool = True) -> None:
        """Exhaust a node's memory: it reports almost no free memory and clones/starts on it fail."""
        self.cluster.nodes[node].out_of_memory = out_of_memory

    def set_error_rate(self, rate: float, message: str | None = None) -> None:
        """Fail this fraction (0..1) of authenticated API requests with HTTP 500."""
        if not 0.0 <= rate <= 1.0:
            raise ValueError("error rate must be between 0 and 1")
        self.error_rate = rate
        if message is not None:
            self.error_message = message

    def set_latency(self, seconds: float) -> None:
        """Add this many seconds to every API request."""
        if seconds < 0:
            raise ValueError("latency must not be negative")
        self.latency = seconds

    def fail_task(self, kind: str, message: str = "pvesim: injected task failure") -> None:
        """Make every task of this type (e.g. `qmclone`) end with `TASK ERROR: <message>`."""
        self.failing_tasks[kind] = message

    def clear_task_failure(self, kind: str) -> None:
        """Let tasks of this type succeed again."""
        self.failing_tasks.pop(kind, None)

    def set_agent_down(self, vmid: int, down: bool = True) -> None:
        """Make a VM's guest agent stop answering (as when qemu-guest-agent is not installed in the guest)."""
        if down:
            self.agent_down.add(vmid)
        else:
            self.agent_down.discard(vmid)

    def set_unreachable_reason(self, reason: str) -> None:
        """Choose the 595 reason phrase for offline nodes."""
        if reason not in UNREACHABLE_REASONS:
            raise ValueError(f"reason must be one of {', '.join(UNREACHABLE_REASONS)}")
        self.unreachable_reason = reason

    def clear(self) -> None:
        """Remove every fault: all nodes online with memory, no errors, no latency."""
        for node in self.cluster.nodes.values():
            node.online = True
            node.out_of_memory = False
        self.error_rate = 0.0
        self.latency = 0.0
        self.failing_tasks.clear()
        self.agent_down.clear()
        self.unreachable_reason = UNREACHABLE_REASONS[0]

    def roll_error(self) -> bool:
        """Return True if this request should fail with a random 500."""
        return self.error_rate > 0 and random.random() < self.error_rate

    def injected_task_failure(self, kind: str) -> str | None:
        """Return the error a task of this type must end with, if any."""
        return self.failing_tasks.get(kind)

    def snapshot(self) -> dict[str, Any]:
        """Return the current faults as JSON-ready data."""
        return {
            "offline_nodes": sorted(n.name for n in self.cluster.nodes.values() if not n.online),
            "out_of_memory_nodes": sorted(n.name for n in self.cluster.nodes.values() if n.out_of_memory),
            "error_rate": self.error_rate,
            "error_message": self.error_message,
            "latency": self.latency,
            "failing_tasks": dict(self.failing_tasks),
            "unreachable_reason": self.unreachable_reason,
            "agent_down": sorted(self.agent_down),
        }

    def apply(self, data: dict[str, Any]) -> None:
        """Apply a partial snapshot (the admin endpoint's body); listed node sets replace the current ones."""
        unknown = set(data) - set(self.snapshot())
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        for key in ("offline_nodes", "out_of_memory_nodes"):
            if key in data:
                names = set(data[key])
                missing = names - set(self.cluster.nodes)
                if missing:
                    raise ValueError(f"unknown nodes: {', '.join(sorted(missing))}")
        if "offline_nodes" in data:
            for node in self.cluster.nodes.values():
                node.online = node.name not in set(data["offline_nodes"])
        if "out_of_memory_nodes" in data:
            for node in self.cluster.nodes.values():
                node.out_of_memory = node.name in set(data["out_of_memory_nodes"])
        if "error_rate" in data:
            self.set_error_rate(float(data["error_rate"]), data.get("error_message"))
        elif "error_message" in data:
            self.error_message = str(data["error_message"])
        if "latency" in data:
            self.set_latency(float(data["latency"]))
        if "failing_tasks" in data:
            self.failing_tasks = {str(k): str(v) for k, v in dict(data["failing_tasks"]).items()}
        if "unreachable_reason" in data:
            self.set_unreachable_reason(str(data["unreachable_reason"]))
        if "agent_down" in data:
            self.agent_down = {int(vmid) for vmid in data["agent_down"]}
