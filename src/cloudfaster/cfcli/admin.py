"""``cf op``, ``cf user``, ``cf key``, ``cf quota``, ``cf audit``."""

from __future__ import annotations

from typing import Annotated

import typer

from cloudfaster.cfcli.common import OutputOpt, client, follow_op
from cloudfaster.cfcli.output import Format, errors, show
from cloudfaster.client import calls
from cloudfaster.client.models import OperationRef

ops = typer.Typer(help="Operations (slow work).", no_args_is_help=True)
users = typer.Typer(help="Users (admin).", no_args_is_help=True)
keys = typer.Typer(help="API keys.", no_args_is_help=True)
quotas = typer.Typer(help="Quotas.", no_args_is_help=True)


@ops.command("show")
def op_show(op_id: str, output: OutputOpt = Format.table) -> None:
    """One operation with its steps."""
    with client() as cf:
        show(cf.send(calls.op_get(op_id)), output)


@ops.command("list")
def op_list(state: Annotated[str | None, typer.Option()] = None, output: OutputOpt = Format.table) -> None:
    """Your operations."""
    with client() as cf:
        show(cf.send(calls.op_list(state=state)).items, output, ("id", "kind", "target_id", "state", "created_at"))


@ops.command("watch")
def op_watch(op_id: str, output: OutputOpt = Format.table) -> None:
    """Show the operation's steps live until it ends; non-zero exit when it fails."""
    with client() as cf:
        op = cf.send(calls.op_get(op_id))
        ref = OperationRef(id=op.id, kind=op.kind, state=op.state, url=f"/operations/{op.id}")
        done = follow_op(cf, ref, live=output is Format.table)
        if output is not Format.table:
            show(done, output)


@users.command("create")
def user_create(userid: str, username: str, output: OutputOpt = Format.table) -> None:
    """Register a user."""
    with client() as cf:
        show(cf.send(calls.user_create(userid, username)), output)


@users.command("list")
def user_list(output: OutputOpt = Format.table) -> None:
    """Every user."""
    with client() as cf:
        show(cf.send(calls.user_list()).items, output)


@users.command("show")
def user_show(userid: str, output: OutputOpt = Format.table) -> None:
    """One user."""
    with client() as cf:
        show(cf.send(calls.user_get(userid)), output)


@users.command("delete")
def user_delete(
    userid: str,
    cascade: Annotated[bool, typer.Option("--cascade", help="Delete their VMs and services first")] = False,
) -> None:
    """Delete a user (refused while they hold resources, unless --cascade)."""
    with client() as cf:
        deletion = cf.send(calls.user_delete(userid, cascade=cascade))
        if deletion is not None:
            follow_op(cf, deletion.operation)
    errors.print(f"deleted user {userid}")


@keys.command("create")
def key_create(
    userid: Annotated[str | None, typer.Option(help="The user it acts as")] = None,
    name: Annotated[str, typer.Option()] = "",
    admin: Annotated[bool, typer.Option("--admin", help="An admin key")] = False,
    output: OutputOpt = Format.table,
) -> None:
    """Create a key; its secret is shown this once."""
    with client() as cf:
        show(cf.send(calls.key_create(userid=userid, name=name, admin=admin)), output)


@keys.command("list")
def key_list(output: OutputOpt = Format.table) -> None:
    """Keys you may see."""
    with client() as cf:
        show(cf.send(calls.key_list()).items, output)


@keys.command("revoke")
def key_revoke(prefix: str, output: OutputOpt = Format.table) -> None:
    """Revoke a key."""
    with client() as cf:
        show(cf.send(calls.key_revoke(prefix)), output)


@quotas.command("show")
def quota_show(userid: str, output: OutputOpt = Format.table) -> None:
    """A user's limits and usage."""
    with client() as cf:
        quota = cf.send(calls.quota_get(userid))
    if output is Format.table:
        show({**quota.limits.model_dump(), **{f"used_{k}": v for k, v in quota.usage.model_dump().items()}}, output)
    else:
        show(quota, output)


@quotas.command("set")
def quota_set(
    userid: str,
    max_vms: Annotated[int | None, typer.Option()] = None,
    max_vcpus: Annotated[int | None, typer.Option()] = None,
    max_memory_mb: Annotated[int | None, typer.Option()] = None,
    max_disk_gb: Annotated[int | None, typer.Option()] = None,
    max_services: Annotated[int | None, typer.Option()] = None,
    output: OutputOpt = Format.table,
) -> None:
    """Change a user's limits (the ones given)."""
    given = {"max_vms": max_vms, "max_vcpus": max_vcpus, "max_memory_mb": max_memory_mb,
             "max_disk_gb": max_disk_gb, "max_services": max_services}  # fmt: skip
    with client() as cf:
        show(cf.send(calls.quota_set(userid, {k: v for k, v in given.items() if v is not None})), output)


def audit(
    userid: Annotated[str | None, typer.Option(help="Only this user's calls")] = None,
    limit: Annotated[int, typer.Option()] = 50,
    output: OutputOpt = Format.table,
) -> None:
    """Audited calls (admin)."""
    with client() as cf:
        page = cf.send(calls.audit_list(limit=limit, userid=userid))
    show(page.items, output, ("at", "actor_userid", "method", "path", "status_code", "result"))
