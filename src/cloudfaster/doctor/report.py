"""Check results and how they are shown: a rich table for people, JSON for scripts."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table


class Status(StrEnum):
    """How one check came out: ``failing`` must be fixed before users come, ``warning`` should be looked at."""

    OK = "ok"
    WARNING = "warning"
    FAILING = "failing"


@dataclass(frozen=True, slots=True)
class Check:
    """One check: its name (``area.subject``), outcome, what was found and, unless ok, how to fix it."""

    name: str
    status: Status
    detail: str
    fix: str = ""

    @classmethod
    def ok(cls, name: str, detail: str) -> Check:
        """A check that passed."""
        return cls(name, Status.OK, detail)

    @classmethod
    def warning(cls, name: str, detail: str, fix: str) -> Check:
        """A check that found something to look at."""
        return cls(name, Status.WARNING, detail, fix)

    @classmethod
    def failing(cls, name: str, detail: str, fix: str) -> Check:
        """A check that found something CloudFaster cannot work with."""
        return cls(name, Status.FAILING, detail, fix)


STYLE = {Status.OK: "green", Status.WARNING: "yellow", Status.FAILING: "bold red"}


@dataclass(frozen=True, slots=True)
class Report:
    """Every check, in the order they ran."""

    checks: list[Check]

    @property
    def ok(self) -> bool:
        """True when nothing is failing (warnings allowed)."""
        return all(check.status != Status.FAILING for check in self.checks)

    @property
    def exit_code(self) -> int:
        """0 when nothing is failing, 1 otherwise."""
        return 0 if self.ok else 1

    def counts(self) -> dict[str, int]:
        """How many checks ended in each status."""
        found = Counter(check.status.value for check in self.checks)
        return {status.value: found.get(status.value, 0) for status in Status}

    def to_json(self) -> dict[str, Any]:
        """The report as plain data: ``ok``, ``counts`` and every check."""
        return {"ok": self.ok, "counts": self.counts(), "checks": [asdict(check) for check in self.checks]}

    def render_json(self) -> str:
        """The report as one JSON document."""
        return json.dumps(self.to_json(), indent=2)

    def print_table(self, console: Console) -> None:
        """The report as a table, then one summary line."""
        table = Table(title="cloudfaster doctor", show_lines=True, expand=True)
        table.add_column("check", no_wrap=True)
        table.add_column("status", no_wrap=True)
        table.add_column("found", ratio=3)
        table.add_column("fix", ratio=2)
        for check in self.checks:
            status = f"[{STYLE[check.status]}]{check.status.value}[/]"
            table.add_row(escape(check.name), status, escape(check.detail), escape(check.fix))
        console.print(table)
        counts = self.counts()
        verdict = "[green]ready[/]" if self.ok else "[bold red]not ready: fix what is failing[/]"
        console.print(f"{counts['ok']} ok, {counts['warning']} warning(s), {counts['failing']} failing: {verdict}")
