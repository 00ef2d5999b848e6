"""The VM routes: create, read, list, resize, power, console, delete, reconcile."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from cloudfaster.api.accepted import IdempotencyKey, WaitQuery, accepted, operation_ref
from cloudfaster.api.deps import AdminDep, AuthFirstRoute, CursorQuery, LimitQuery, PrincipalDep, VmsDep
from cloudfaster.api.openapi import OPERATION_FAILED, errors
from cloudfaster.api.schemas.core import Page
from cloudfaster.api.schemas.vms import (
    ConsoleLink,
    ConsoleRequest,
    OsCatalog,
    PowerAction,
    PowerOptions,
    ReconcileResult,
    VMCreate,
    VMRead,
    VmStatusName,
    VMUpdate,
)
from cloudfaster.core import audit
from cloudfaster.core import operations as ops
from cloudfaster.core.operations import Started
from cloudfaster.core.principal import Principal
from cloudfaster.proxmox.errors import ProxmoxError
from cloudfaster.vms import console, service, templates
from cloudfaster.vms.errors import app_error
from cloudfaster.vms.reconcile import reconcile
from cloudfaster.vms.runtime import VmRuntime
from cloudfaster.vms.service import VmState

# What a VM call that reaches Proxmox VE (or waits for an operation) can answer besides the common statuses.
PROXMOX = errors(409, 502, 503)
WAITED = errors(*OPERATION_FAILED) | {200: {"model": VMRead, "description": "Done, or nothing to do"}}
router = APIRouter(prefix="/vm", tags=["vms"], route_class=AuthFirstRoute)

VmidPath = Annotated[int, Path(ge=100, le=999_999_999, description="The VM's id in Proxmox VE")]


async def answer(rt: VmRuntime, principal: Principal, started: Started[VmState], wait: float) -> JSONResponse:
    """200 when nothing was started; 202 + Location while the operation runs; after ``?wait=`` the VM as it
    ended up."""
    view, op = VMRead.of(started.resource), started.operation
    audit.note_target("vmid", view.vmid)
    if op is None:
        return JSONResponse(view.model_dump(mode="json"))
    if wait > 0:
        op = await ops.wait_for_end(rt.db, op.id, wait)
        if op.state not in ops.ACTIVE_STATES:
            view = VMRead.of(await service.get_vm(rt, principal, view.vmid))
    view.operation = operation_ref(op)
    return accepted(view, op)


@router.get("/os", response_model=OsCatalog)
async def list_os(rt: VmsDep, _: PrincipalDep) -> OsCatalog:
    """The OS names a VM can be created with, the nodes CloudFaster manages, and per OS the login user and the
    template's disk size (the smallest disk a VM can have)."""
    return OsCatalog.of(await templates.catalog(rt), rt.node_names)


@router.post("/reconcile", response_model=ReconcileResult, responses=PROXMOX)
async def run_reconcile(rt: VmsDep, _: AdminDep) -> ReconcileResult:
    """Run the reconcile pass now (admin only)."""
    try:
        return ReconcileResult.of(await reconcile(rt))
    except ProxmoxError as exc:
        raise app_error(exc) from exc


@router.post("", response_model=VMRead, status_code=202, responses=WAITED | errors(403, 404))
async def create_vm(
    body: VMCreate, rt: VmsDep, principal: PrincipalDep, key: IdempotencyKey = None, wait: WaitQuery = 0
) -> JSONResponse:
    """Create a VM: 202 with the VM in ``creating`` and ``Location: /operations/{id}``."""
    return await answer(rt, principal, await service.create_vm(rt, principal, body, key), wait)


@router.get("", response_model=Page[VMRead])
async def list_vms(
    rt: VmsDep,
    principal: PrincipalDep,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
    userid: Annotated[str | None, Query(max_length=64, description="Admins: only this user's VMs")] = None,
    node: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[VmStatusName | None, Query()] = None,
) -> Page[VMRead]:
    """The caller's VMs (admins: everyone's, filterable by userid, node and status), deleted ones on request."""
    page = await service.list_vms(rt, principal, limit=limit, cursor=cursor, userid=userid, node=node, status=status)
    return Page(items=[VMRead.of(state) for state in page.items], next_cursor=page.next_cursor)


@router.get("/{vmid}", response_model=VMRead)
async def get_vm(vmid: VmidPath, rt: VmsDep, principal: PrincipalDep) -> VMRead:
    """One VM: our record, its active operation (else its latest), and power state, usage and config from
    Proxmox VE."""
    return VMRead.of(await service.read_vm(rt, principal, vmid))


@router.patch("/{vmid}", response_model=VMRead, status_code=202, responses=WAITED)
async def update_vm(
    vmid: VmidPath, body: VMUpdate, rt: VmsDep, principal: PrincipalDep, key: IdempotencyKey = None,
    wait: WaitQuery = 0,
) -> JSONResponse:  # fmt: skip
    """Change cores, memory (hot where possible, else pending a reboot) and disk size (grow only)."""
    return await answer(rt, principal, await service.update_vm(rt, principal, vmid, body, key), wait)


@router.delete("/{vmid}", response_model=VMRead, status_code=202, responses=WAITED)
async def delete_vm(
    vmid: VmidPath, rt: VmsDep, principal: PrincipalDep, key: IdempotencyKey = None, wait: WaitQuery = 0
) -> JSONResponse:
    """Stop and destroy the VM with its disks; the record stays, as ``deleted``."""
    return await answer(rt, principal, await service.delete_vm(rt, principal, vmid, key), wait)


@router.post(
    "/{vmid}/console",
    response_model=ConsoleLink,
    responses=PROXMOX
    | {200: {"content": {"application/x-virt-viewer": {}}, "description": "A console link, or a SPICE .vv file"}},
)
async def open_console(
    vmid: VmidPath, rt: VmsDep, principal: PrincipalDep, request: Request, body: ConsoleRequest | None = None
) -> Any:
    """vnc or term: a CloudFaster console page and a one-time token (about a minute, this user and VM only).
    spice: a ``.vv`` file for remote-viewer."""
    kind = (body or ConsoleRequest()).type
    if kind == "spice":
        return _vv_file(vmid, (await service.open_console(rt, principal, vmid, kind)).answer)
    return ConsoleLink.of(await console.grant(rt, principal, vmid, kind), str(request.base_url))


def _vv_file(vmid: int, data: dict[str, Any]) -> Response:
    """A remote-viewer file (``[virt-viewer]`` INI, as PVE's spiceconfig formatter writes it)."""
    lines = ["[virt-viewer]", *(f"{key}={value}" for key, value in data.items())]
    return Response(
        "\n".join(lines) + "\n",
        media_type="application/x-virt-viewer",
        headers={"Content-Disposition": f'attachment; filename="vm-{vmid}.vv"'},
    )


@router.post("/{vmid}/{action}", response_model=VMRead, status_code=202, responses=WAITED)
async def power_action(
    vmid: VmidPath, action: PowerAction, rt: VmsDep, principal: PrincipalDep, key: IdempotencyKey = None,
    wait: WaitQuery = 0, options: Annotated[PowerOptions | None, Body()] = None,
) -> JSONResponse:  # fmt: skip
    """start, stop (hard), shutdown (clean; ``timeout``, ``force``), reboot, suspend (pause) or resume.

    An action already satisfied answers 200 and does nothing; an impossible one is 409.
    """
    started = await service.power_vm(rt, principal, vmid, action, options or PowerOptions(), key)
    return await answer(rt, principal, started, wait)
