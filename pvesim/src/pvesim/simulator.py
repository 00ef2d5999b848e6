"""The simulator object: configuration, cluster state, faults and tasks in one place."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from pvesim.cluster import Cluster
from pvesim.config import SimConfig
from pvesim.consoles import Consoles
from pvesim.faults import Faults
from pvesim.schema import Schema, load_schema
from pvesim.tasks import TaskManager
from pvesim.tls import TlsFiles

log = logging.getLogger("pvesim")


class Simulator:
    """Holds everything one running pvesim instance serves."""

    def __init__(self, config: SimConfig, tls: TlsFiles, state_file: Path | None = None) -> None:
        self.config = config
        self.tls = tls
        self.state_file = state_file
        self.schema: Schema = load_schema()
        self.cluster = Cluster(config)
        self.faults = Faults(self.cluster)
        self.tasks = TaskManager(
            duration_of=config.task_duration,
            injected_failure=self.faults.injected_task_failure,
            on_change=self.mark_dirty,
        )
        self.consoles = Consoles(self)
        if state_file is not None and state_file.exists():
            data = json.loads(state_file.read_text(encoding="utf-8"))
            self.cluster.load_json(data)
            self.tasks.load_json(data.get("tasks", []))
            log.info("loaded state from %s", state_file)

    def mark_dirty(self) -> None:
        """Note that state changed and the state file needs writing."""
        self.cluster.dirty = True

    def save(self) -> None:
        """Write the state file if one is configured and something changed."""
        if self.state_file is not None and self.cluster.dirty:
            self.cluster.save(self.state_file, self.tasks.to_json())
