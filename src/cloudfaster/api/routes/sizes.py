"""Named VM sizes: anyone lists them, admins define them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status
from fastapi.responses import JSONResponse

from cloudfaster.api.deps import AdminDep, PrincipalDep, VmsDep
from cloudfaster.api.schemas.sizes import SizeName, SizeRead, SizeWrite
from cloudfaster.vms import sizes
from cloudfaster.vms.sizes import Size

router = APIRouter(prefix="/sizes", tags=["sizes"])

SizePath = Annotated[SizeName, Path(description="Lower-case letters, digits, '.', '_', '-'; at most 32 characters")]


@router.get("", response_model=list[SizeRead])
async def list_sizes(rt: VmsDep, _: PrincipalDep) -> list[SizeRead]:
    """The sizes ``POST /vm`` accepts as ``size``, by name."""
    return [SizeRead.of(size) for size in await sizes.list_sizes(rt.db)]


@router.put("/{name}", response_model=SizeRead, responses={201: {"model": SizeRead}})
async def put_size(name: SizePath, body: SizeWrite, rt: VmsDep, _: AdminDep) -> JSONResponse:
    """Create (201) or replace (200) a size (admin only); VMs already made keep their values."""
    size, created = await sizes.put_size(rt.db, Size(name, body.cores, body.memory, body.disk, body.description))
    code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return JSONResponse(SizeRead.of(size).model_dump(mode="json"), status_code=code)


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_size(name: SizePath, rt: VmsDep, _: AdminDep) -> Response:
    """Delete a size (admin only); 404 when there is none. VMs made from it keep their values."""
    await sizes.delete_size(rt.db, name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
