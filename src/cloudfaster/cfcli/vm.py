"""``cf vm …``: the VM commands."""

from __future__ import annotations

import os
import shutil
import webbrowser
from pathlib import Path
from typing import Annotated, Any

import typer

from cloudfaster.cfcli.common import OutputOpt, WaitOpt, act, client
from cloudfaster.cfcli.output import Format, errors, show
from cloudfaster.client import calls

app = typer.Typer(help="Virtual machines on Proxmox VE.", no_args_is_help=True)
COLUMNS = ("vmid", "name", "os", "cores", "memory", "disk", "node", "status")
VmId = Annotated[int, typer.Argument(help="The VM's id")]


@app.command("os")
def list_os(output: OutputOpt = Format.table) -> None:
    """The OS names a VM can be created with."""
    with client() as cf:
        catalog = cf.send(calls.vm_os())
    if output is Format.table:
        show(catalog.systems, output, ("os", "login_user", "min_disk_gb", "nodes"))
    else:
        show(catalog, output)


@app.command("sizes")
def list_sizes(output: OutputOpt = Format.table) -> None:
    """The named sizes `cf vm create --size` takes."""
    with client() as cf:
        show(cf.send(calls.size_list()), output, ("name", "cores", "memory", "disk", "description"))


@app.command("list")
def list_vms(
    status: Annotated[str | None, typer.Option(help="Only VMs in this status")] = None,
    all_pages: Annotated[bool, typer.Option("--all", help="Every page, not just the first")] = False,
    output: OutputOpt = Format.table,
) -> None:
    """Your VMs (admins: everyone's)."""
    with client() as cf:
        page = cf.send(calls.vm_list(status=status))
        items = list(page.items)
        while all_pages and page.next_cursor:
            page = cf.send(calls.vm_list(status=status, cursor=page.next_cursor))
            items += page.items
        show(items, output, COLUMNS)


@app.command("show")
def show_vm(vmid: VmId, output: OutputOpt = Format.table) -> None:
    """One VM with its live state."""
    with client() as cf:
        show(cf.send(calls.vm_get(vmid)), output)


def _ssh_keys(values: list[str]) -> list[str]:
    keys = []
    for value in values:
        path = Path(value).expanduser()
        keys += path.read_text().splitlines() if path.is_file() else [value]
    return [k for k in keys if k.strip()]


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Hostname-style name")],
    os_name: Annotated[str, typer.Option("--os", help="An OS from `cf vm os`")],
    sshkey: Annotated[list[str], typer.Option(help="A public key or a file of them (repeatable)")],
    cores: Annotated[int | None, typer.Option()] = None,
    memory: Annotated[int | None, typer.Option(help="MB")] = None,
    disk: Annotated[int | None, typer.Option(help="GB")] = None,
    size: Annotated[str | None, typer.Option(help="A named size")] = None,
    node: Annotated[str | None, typer.Option()] = None,
    idempotency_key: Annotated[str | None, typer.Option(help="Reuse to retry safely (default: a fresh one)")] = None,
    wait: WaitOpt = None,
    output: OutputOpt = Format.table,
) -> None:
    """Create a VM; waits (showing the steps) on a terminal or with --wait."""
    spec: dict[str, Any] = {"name": name, "os": os_name, "sshkeys": _ssh_keys(sshkey), "cores": cores,
                            "memory": memory, "disk": disk, "size": size, "node": node}  # fmt: skip
    with client() as cf:
        vm = cf.send(calls.vm_create(spec, idempotency_key=idempotency_key))
        act(cf, vm, lambda: cf.send(calls.vm_get(vm.vmid)), wait, output, COLUMNS)


@app.command("resize")
def resize(
    vmid: VmId,
    cores: Annotated[int | None, typer.Option()] = None,
    memory: Annotated[int | None, typer.Option(help="MB")] = None,
    disk: Annotated[int | None, typer.Option(help="GB (grow only)")] = None,
    wait: WaitOpt = None,
    output: OutputOpt = Format.table,
) -> None:
    """Change cores, memory or disk size."""
    with client() as cf:
        vm = cf.send(calls.vm_update(vmid, {"cores": cores, "memory": memory, "disk": disk}))
        act(cf, vm, lambda: cf.send(calls.vm_get(vmid)), wait, output, COLUMNS)


def _power(action: str) -> None:
    def command(vmid: VmId, wait: WaitOpt = None, output: OutputOpt = Format.table) -> None:
        with client() as cf:
            vm = cf.send(calls.vm_power(vmid, action))
            act(cf, vm, lambda: cf.send(calls.vm_get(vmid)), wait, output, COLUMNS)

    command.__doc__ = f"{action.capitalize()} the VM."
    app.command(action)(command)


for _action in calls.POWER_ACTIONS:
    _power(_action)


@app.command("delete")
def delete(vmid: VmId, wait: WaitOpt = None, output: OutputOpt = Format.table) -> None:
    """Stop and destroy the VM with its disks."""
    with client() as cf:
        vm = cf.send(calls.vm_delete(vmid))
        act(cf, vm, lambda: cf.send(calls.vm_get(vmid)), wait, output, COLUMNS)


@app.command("console")
def console(
    vmid: VmId,
    kind: Annotated[str, typer.Option("--type", help="vnc or term")] = "vnc",
    no_browser: Annotated[bool, typer.Option("--no-browser", help="Print the link instead of opening it")] = False,
) -> None:
    """Open the VM's console page in the browser (a one-time link, valid about a minute)."""
    with client() as cf:
        link = cf.send(calls.vm_console(vmid, kind))
    if no_browser or not webbrowser.open(link.url):
        print(link.url)
    else:
        errors.print(f"opened the {link.type} console of VM {vmid} in the browser")


@app.command("ssh", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def ssh(ctx: typer.Context, vmid: VmId) -> None:
    """ssh to the VM's address as its login user (extra arguments go to ssh)."""
    with client() as cf:
        vm = cf.send(calls.vm_get(vmid))
    line = vm.ssh
    if not line or not line.startswith("ssh "):
        errors.print(f"[red]error:[/] VM {vmid} has no known address yet")
        raise typer.Exit(1)
    target = line.split()[1]
    ssh_bin = shutil.which("ssh")
    if ssh_bin is None:
        errors.print("[red]error:[/] ssh is not installed")
        raise typer.Exit(1)
    os.execv(ssh_bin, ["ssh", target, *ctx.args])  # noqa: S606 (replaces cf with ssh, as `ssh` itself would run)
