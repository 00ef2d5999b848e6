"""The ``cf`` command: login and contexts, the command groups, and one way of reporting errors."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from cloudfaster.cfcli import admin, config, service, vm
from cloudfaster.cfcli.common import state
from cloudfaster.cfcli.output import errors
from cloudfaster.client import ApiError, Client, CloudFasterError, OperationFailed, calls

app = typer.Typer(help="The CloudFaster command-line client.", no_args_is_help=True)
contexts = typer.Typer(help="Saved servers and keys.", no_args_is_help=True)
app.add_typer(vm.app, name="vm")
app.add_typer(service.app, name="service")
app.add_typer(admin.ops, name="op")
app.add_typer(admin.users, name="user")
app.add_typer(admin.keys, name="key")
app.add_typer(admin.quotas, name="quota")
app.add_typer(contexts, name="context")
app.command("audit")(admin.audit)


@app.callback()
def main_options(
    context: Annotated[
        str | None, typer.Option("--context", "-c", help="A saved context (see `cf context list`)")
    ] = None,
) -> None:
    """Talk to a CloudFaster server: VMs, services, operations and (admins) users, keys and quotas."""
    state["context"] = context


@app.command("login")
def login(
    url: Annotated[str, typer.Option(help="The server, e.g. https://cloud.example.org")],
    name: Annotated[str, typer.Option("--name", help="Name of this context")] = "default",
    key: Annotated[str | None, typer.Option(help="Default: CF_API_KEY, else asked for")] = None,
) -> None:
    """Check an API key against a server and save both as a context (the file is mode 0600)."""
    secret = key or os.environ.get("CF_API_KEY") or typer.prompt("API key", hide_input=True)
    with Client(url, secret) as cf:
        cf.send(calls.op_list(limit=1))
    path = config.add_context(name, url, secret)
    errors.print(f"logged in to {url} as context {name!r} ({path})")


@contexts.command("list")
def context_list() -> None:
    """Saved contexts; * marks the current one."""
    data = config.load()
    for name, ctx in data.get("contexts", {}).items():
        print(f"{'*' if name == data.get('current') else ' '} {name}\t{ctx['url']}")


@contexts.command("use")
def context_use(name: str) -> None:
    """Make a saved context the current one."""
    try:
        config.use_context(name)
    except LookupError as exc:
        errors.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None


def main() -> None:
    """Entry point of the ``cf`` console script: API errors exit 1 with the API's code and message."""
    try:
        app()
    except OperationFailed as exc:
        errors.print(f"[red]error:[/] operation {exc.operation.id} {exc.operation.state}: {exc.code}: {exc.message}")
        raise SystemExit(1) from None
    except ApiError as exc:
        errors.print(f"[red]error:[/] {exc.code}: {exc.message}", markup=True, highlight=False)
        raise SystemExit(1) from None
    except CloudFasterError as exc:
        errors.print(f"[red]error:[/] {exc.message}")
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
