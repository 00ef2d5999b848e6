"""IP pools (admins): the addresses VMs get on the nodes each pool serves."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from cloudfaster.api.deps import AdminDep, VmsDep
from cloudfaster.api.schemas.pools import PoolCreate, PoolName, PoolRead, PoolUpdate
from cloudfaster.vms import pools

router = APIRouter(prefix="/pools", tags=["pools"])

NamePath = Annotated[PoolName, Path(description="The pool's name")]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=PoolRead)
async def create_pool(body: PoolCreate, rt: VmsDep, admin: AdminDep) -> PoolRead:
    """Define a pool; a node gets at most one pool per IP version (409 ``node_already_served``)."""
    return PoolRead.of(await pools.create_pool(rt, admin, body))


@router.get("", response_model=list[PoolRead])
async def list_pools(rt: VmsDep, admin: AdminDep) -> list[PoolRead]:
    """Every pool with its capacity and how many addresses it has handed out."""
    return [PoolRead.of(usage) for usage in await pools.list_pools(rt, admin)]


@router.get("/{name}", response_model=PoolRead)
async def get_pool(name: NamePath, rt: VmsDep, admin: AdminDep) -> PoolRead:
    """One pool with its usage and the VM holding each address."""
    return PoolRead.of(await pools.get_pool(rt, admin, name))


@router.patch("/{name}", response_model=PoolRead)
async def update_pool(name: NamePath, body: PoolUpdate, rt: VmsDep, admin: AdminDep) -> PoolRead:
    """Change a pool; shrinking it under addresses in use is 409 ``pool_in_use``. VMs keep their address."""
    return PoolRead.of(await pools.update_pool(rt, admin, name, body))


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_pool(name: NamePath, rt: VmsDep, admin: AdminDep) -> Response:
    """Remove a pool that hands out no address (409 ``pool_in_use`` otherwise)."""
    await pools.delete_pool(rt, admin, name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
