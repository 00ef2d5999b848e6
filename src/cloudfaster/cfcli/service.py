"""``cf service …``: the Docker Compose service commands."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Annotated

import typer

from cloudfaster.cfcli.common import OutputOpt, WaitOpt, act, client, should_wait
from cloudfaster.cfcli.output import Format, errors, show
from cloudfaster.cfcli.progress import upload_bar
from cloudfaster.client import calls
from cloudfaster.client._core import UploadProgress
from cloudfaster.client.sync import error_text

app = typer.Typer(help="Docker Compose services.", no_args_is_help=True)
COLUMNS = ("id", "service_name", "service_types", "status", "source_type")
ServiceId = Annotated[int, typer.Argument(help="The service's id")]
ZipOpt = Annotated[Path | None, typer.Option("--zip", exists=True, dir_okay=False, help="The site or app as a ZIP")]
GitOpt = Annotated[str | None, typer.Option("--git", help="A git repository URL")]
RefOpt = Annotated[str | None, typer.Option("--ref", help="Branch or tag")]


def _upload_progress(stack: ExitStack, zip_path: Path | None, fmt: Format) -> UploadProgress | None:
    """A progress bar for the upload, on a terminal and for table output only; closed with ``stack``."""
    if zip_path is None or fmt is not Format.table or not errors.is_terminal:
        return None
    bar = stack.enter_context(upload_bar(f"uploading {zip_path.name}"))

    def report(done: int, total: int) -> None:
        bar.update(bar.task_ids[0], completed=done, total=total)

    return report


@app.command("list")
def list_services(
    deleted: Annotated[bool, typer.Option("--deleted", help="Include deleted ones")] = False,
    output: OutputOpt = Format.table,
) -> None:
    """Your services (admins: everyone's)."""
    with client() as cf:
        show(cf.send(calls.service_list(include_deleted=deleted or None)).items, output, COLUMNS)


@app.command("show")
def show_service(service_id: ServiceId, output: OutputOpt = Format.table) -> None:
    """One service with its containers."""
    with client() as cf:
        show(cf.send(calls.service_get(service_id)), output)


@app.command("create")
def create(
    name: Annotated[str, typer.Argument()],
    types: Annotated[list[str], typer.Option("--type", help="static, php, node, react, mysql, postgres (repeatable)")],
    zip_path: ZipOpt = None,
    git: GitOpt = None,
    ref: RefOpt = None,
    env_file: Annotated[Path | None, typer.Option("--env", exists=True, help="A JSON object of variables")] = None,
    userid: Annotated[str | None, typer.Option(help="Owner (admin keys)")] = None,
    wait: WaitOpt = None,
    output: OutputOpt = Format.table,
) -> None:
    """Create a service from a ZIP (streamed from disk) or a git repository."""
    env = env_file.read_text() if env_file else None
    with client() as cf:
        with ExitStack() as stack:
            progress = _upload_progress(stack, zip_path, output)
            call = calls.service_create(name, types, zip_path=zip_path, git_url=git, git_ref=ref, env=env,
                                        userid=userid, progress=progress)  # fmt: skip
            created = cf.send(call)
        if created.filebrowser.password and output is Format.table:
            errors.print(f"Filebrowser: {created.filebrowser.username} / {created.filebrowser.password} (shown once)")
        act(cf, created, lambda: cf.send(calls.service_get(created.id)), wait, output, COLUMNS)


@app.command("deploy")
def deploy(service_id: ServiceId, zip_path: ZipOpt = None, git: GitOpt = None, ref: RefOpt = None,
           wait: WaitOpt = None, output: OutputOpt = Format.table) -> None:  # fmt: skip
    """Redeploy from a new ZIP or git ref."""
    with client() as cf:
        with ExitStack() as stack:
            progress = _upload_progress(stack, zip_path, output)
            started = cf.send(calls.service_deploy(service_id, zip_path=zip_path, git_url=git, git_ref=ref,
                                                   progress=progress))  # fmt: skip
        act(cf, started, lambda: cf.send(calls.service_get(service_id)), wait, output, COLUMNS)


def _action(action: str) -> None:
    def command(service_id: ServiceId, wait: WaitOpt = None, output: OutputOpt = Format.table) -> None:
        with client() as cf:
            started = cf.send(calls.service_action(service_id, action))
            act(cf, started, lambda: cf.send(calls.service_get(service_id)), wait, output, COLUMNS)

    command.__doc__ = f"{action.capitalize()} the service's containers."
    app.command(action)(command)


for _name in calls.SERVICE_ACTIONS:
    _action(_name)


@app.command("delete")
def delete(service_id: ServiceId, wait: WaitOpt = None, output: OutputOpt = Format.table) -> None:
    """Remove the containers, volumes and files; the record stays as deleted."""
    with client() as cf:
        started = cf.send(calls.service_delete(service_id))
        act(cf, started, lambda: cf.send(calls.service_get(service_id)), wait, output, COLUMNS)


@app.command("logs")
def logs(
    service_id: ServiceId,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new lines")] = False,
    tail: Annotated[int, typer.Option(help="Lines from the end")] = 200,
    container: Annotated[str | None, typer.Option(help="One container")] = None,
) -> None:
    """Print the service's logs."""
    with client() as cf:
        if not follow:
            for line in cf.send(calls.service_logs(service_id, tail=tail, container=container)).lines:
                print(line)
            return
        for event, data in cf.follow(calls.service_logs_follow(service_id, tail=tail, container=container)):
            if event == "log":
                print(data, flush=True)
            elif event == "error":
                errors.print(f"[red]error:[/] {error_text(data)}")
                raise typer.Exit(1)
            elif event == "end":
                return


__all__ = ["app", "should_wait"]
