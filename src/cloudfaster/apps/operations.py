"""Starting an operation on a service: an ``Idempotency-Key`` replay, the one-operation-per-service and status
checks, the transitional status, the dispatch; the staged source is removed when nothing was started."""

from __future__ import annotations

from typing import Any

from cloudfaster.apps import store
from cloudfaster.apps.intake import StagedSource, discard
from cloudfaster.apps.params import ServiceParams
from cloudfaster.apps.runtime import AppRuntime
from cloudfaster.apps.status import ACTIONABLE, DELETED, DELETING, RUNNING
from cloudfaster.apps.store import TARGET, OwnedService
from cloudfaster.core import operations as ops
from cloudfaster.core.errors import ConflictError, NotFoundError
from cloudfaster.core.operations import Started


async def find_replay(rt: AppRuntime, userid: str, key: str | None, body_hash: str) -> Started[OwnedService] | None:
    """The operation an ``Idempotency-Key`` with this body already started, or None."""
    async with rt.db.read() as session:
        replay = await ops.find_replay(session, owner_userid=userid, idempotency_key=key, body_hash=body_hash)
        if replay is None:
            return None
        owned = await store.load(session, int(replay.operation.target_id))
    if owned is None:  # service rows are never removed, only marked deleted
        raise NotFoundError("service not found")
    return Started(owned, replay.operation, replayed=True)


async def start_operation(
    rt: AppRuntime,
    owned: OwnedService,
    *,
    kind: str,
    transitional: str | None,
    params: ServiceParams,
    fingerprint: dict[str, Any],
    idempotency_key: str | None,
    staged: StagedSource | None = None,
) -> Started[OwnedService]:
    """Start an operation on a visible service: 409 while another runs or when its status does not allow it.
    ``transitional`` is the status it shows meanwhile; None keeps the status, which must be ``running``."""
    service_id = owned.row.id
    body_hash = ops.request_hash({"kind": kind, "service_id": service_id, **fingerprint})
    try:
        replay = await find_replay(rt, owned.userid, idempotency_key, body_hash)
        if replay is not None:
            discard(staged.path if staged else None)
            return replay
        async with rt.db.write() as session:
            found = await store.load(session, service_id)
            if found is None:
                raise NotFoundError("service not found")
            op = ops.new_operation(
                kind=kind,
                target_type=TARGET,
                target_id=str(service_id),
                owner_userid=owned.userid,
                params=params,
                idempotency_key=idempotency_key,
                body_hash=body_hash,
            )
            await ops.flush_operation(session, op)
            status = found.row.status
            allowed = {RUNNING} if transitional is None else ACTIONABLE
            if status == DELETED or (transitional != DELETING and status not in allowed):
                raise ConflictError(
                    f"service {service_id} is {status}", code="service_state", details={"status": status}
                )
            if transitional is not None:
                await store.set_status(session, service_id, transitional, status_detail=None)
            await session.refresh(found.row)
    except BaseException:
        discard(staged.path if staged else None)
        raise
    await rt.runner.dispatch(op.id)
    return Started(OwnedService(found.row, owned.userid), op)
