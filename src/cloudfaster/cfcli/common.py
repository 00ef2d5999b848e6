"""What every command shares: the client of the chosen context, options, waiting with live progress."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer

from cloudfaster.cfcli import config
from cloudfaster.cfcli.output import Format, errors, show
from cloudfaster.cfcli.progress import render, watching
from cloudfaster.client import Client
from cloudfaster.client.models import Operation, OperationRef

OutputOpt = Annotated[Format, typer.Option("--output", "-o", help="table, json or yaml")]
WaitOpt = Annotated[
    bool | None,
    typer.Option("--wait/--no-wait", help="Wait for the operation, showing its steps (default: on a terminal)"),
]
state: dict[str, Any] = {"context": None}


def client() -> Client:
    """A client for the chosen context."""
    try:
        ctx = config.resolve(state["context"])
    except LookupError as exc:
        errors.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    return Client(ctx.url, ctx.key)


def should_wait(wait: bool | None) -> bool:
    """``--wait``/``--no-wait`` as given, else wait when stdout is a terminal."""
    return sys.stdout.isatty() if wait is None else wait


def follow_op(cf: Client, ref: OperationRef | None, *, live: bool = True) -> Operation | None:
    """Wait for the operation, redrawing its steps on a terminal; ``OperationFailed`` when it fails."""
    if ref is None:
        return None
    if not live or not errors.is_terminal:
        return cf.wait(ref.id)
    with watching() as region:

        def redraw(op: Operation) -> None:
            region.update(render(op))

        return cf.wait(ref.id, progress=redraw)


def act(
    cf: Client, started: Any, reload: Callable[[], Any], wait: bool | None, fmt: Format, columns: tuple[str, ...] = ()
) -> None:
    """Show what a mutation returned, or (with ``--wait``) the resource once its operation has ended."""
    if should_wait(wait) and started.operation is not None and started.operation.state in ("pending", "running"):
        follow_op(cf, started.operation, live=fmt is Format.table)
        started = reload()
    show(started, fmt, columns)
