"""Idempotency-Key replays of VM operations, found before a request's live checks."""

from __future__ import annotations

from typing import Any

from cloudfaster.core import operations as ops
from cloudfaster.core.operations import Started
from cloudfaster.core.principal import Principal
from cloudfaster.vms import store
from cloudfaster.vms.runtime import VmRuntime
from cloudfaster.vms.service import VmState


async def replay_of(
    rt: VmRuntime, principal: Principal, vmid: int, kind: str, request: dict[str, Any], key: str | None
) -> Started[VmState] | None:
    """The earlier operation this Idempotency-Key and request started on the VM, if any: checked before the live
    checks, which the first request's own effect may no longer pass (a snapshot that now exists)."""
    if key is None:
        return None
    async with rt.db.read() as session:
        owned = await store.get_vm(session, principal, vmid)
        if owned.owner is None:
            return None
        body_hash = ops.request_hash({"kind": kind, "vmid": vmid, **request})
        replay = await ops.find_replay(session, owner_userid=owned.owner, idempotency_key=key, body_hash=body_hash)
    return None if replay is None else Started(VmState.of(owned), replay.operation, replayed=True)
