"""Live display of an operation's steps, and a byte progress bar for uploads (only on a terminal)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Group
from rich.live import Live
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn
from rich.text import Text

from cloudfaster.cfcli.output import errors
from cloudfaster.client.models import Operation

MARKS = {"succeeded": "[green]✓[/]", "done": "[green]✓[/]", "failed": "[red]✗[/]", "running": "[yellow]…[/]"}


def render(op: Operation) -> Group:
    """The operation as lines: its kind and state, then one line per step."""
    lines = [Text.from_markup(f"[bold]{op.kind}[/] {op.id} [cyan]{op.state}[/]")]
    for step in op.steps:
        mark = MARKS.get(step.state, "·")
        detail = f" [dim]{step.detail}[/]" if step.detail else ""
        lines.append(Text.from_markup(f"  {mark} {step.name} [dim]{step.state}[/]{detail}"))
    if op.error:
        lines.append(Text.from_markup(f"  [red]{op.error.get('code')}: {op.error.get('message')}[/]"))
    return Group(*lines)


@contextmanager
def watching() -> Iterator[Live]:
    """A live region on stderr that ``update(render(op))`` redraws."""
    with Live(Text(""), console=errors, refresh_per_second=8, transient=False) as live:
        yield live


@contextmanager
def upload_bar(label: str) -> Iterator[Progress]:
    """A bytes progress bar on stderr."""
    bar = Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                   console=errors, transient=True)  # fmt: skip
    with bar:
        bar.add_task(label, total=None)
        yield bar
