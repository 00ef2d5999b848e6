"""Semester end: delete a user together with everything they own, as one operation (``user.delete``).

The operation asks each feature to start deleting the user's resources (each deletion is an operation of its
own), waits for those operations, and deletes the user once nothing of theirs is left. Every round re-reads what
the user still owns, so a crash or a retry anywhere resumes where the world is; a user already gone is done.
While it runs, the user can create nothing new (``users.refuse_while_deleted``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from pydantic import BaseModel
from sqlalchemy import select

from cloudfaster.core import operations as ops
from cloudfaster.core import users
from cloudfaster.core.polling import poll_until
from cloudfaster.core.principal import Principal
from cloudfaster.core.runner.context import OperationContext
from cloudfaster.core.runner.kinds import OperationFailedError, RetryableError
from cloudfaster.db.engine import Database
from cloudfaster.db.models import Operation

log = logging.getLogger("cloudfaster.users")

KIND = "user.delete"
TARGET = "user"
# Who the features see as the caller of the deletions the cascade starts.
CASCADE = Principal(key_id=0, key_prefix="cascade", is_admin=True, user_id=None, userid=None)
# Rounds of "start deletions, wait" before giving up: a resource still being created needs a second round.
MAX_ROUNDS = 5


class OwnedResources(Protocol):
    """A feature that can delete everything one user owns."""

    name: str

    async def delete_owned(self, userid: str) -> list[str]:
        """Start deleting each live resource of the user; the ids of the operations to wait for (a resource's
        running operation, or the deletion just started). Empty when the user owns nothing here."""
        ...


class DeleteUserParams(BaseModel):
    """``user.delete``: whom to delete, with everything they own."""

    userid: str


async def start_deletion(db: Database, admin: Principal, userid: str) -> tuple[Operation, bool]:
    """Record a ``user.delete`` operation (admin only; 404 for an unknown user) and whether it is new: one already
    running for the user is returned instead (deleting twice is deleting once)."""
    admin.require_admin()
    async with db.write() as session:
        await users.get_user(session, admin, userid, lock=True)  # the lock orders us with the user's creates
        active = await ops.active_operation(session, TARGET, userid)
        if active is not None and active.kind == KIND:
            return active, False
        op = ops.new_operation(
            kind=KIND, target_type=TARGET, target_id=userid, owner_userid=userid,
            params=DeleteUserParams(userid=userid), idempotency_key=None, body_hash=None,
        )  # fmt: skip
        await ops.flush_operation(session, op)
    return op, True


class DeleteUser:
    """``user.delete``: the user's VMs and services first, each by its own operation, then the user."""

    name = KIND
    params = DeleteUserParams

    def __init__(
        self,
        db: Database,
        owners: Sequence[OwnedResources],
        *,
        wait_s: float = 900.0,
        poll_s: float = 0.2,
    ) -> None:
        self.db = db
        self.owners = owners
        # Called with the userid once the user (and with them their keys) is gone: caches forget them.
        self.on_deleted: list[Callable[[str], None]] = []
        self.wait_s = wait_s
        self.poll_s = poll_s

    async def run(self, ctx: OperationContext[DeleteUserParams]) -> dict[str, Any]:
        """Delete what the user owns, round after round, then the user."""
        userid = ctx.params.userid
        waited: dict[str, list[str]] = {owner.name: [] for owner in self.owners}
        waited.update(ctx.saved("waited") or {})
        for _ in range(MAX_ROUNDS):
            if not await self._exists(userid):
                return {"userid": userid, "operations": waited, "user": "already gone"}
            pending: list[str] = []
            for owner in self.owners:
                started = await owner.delete_owned(userid)
                waited[owner.name] += [op_id for op_id in started if op_id not in waited[owner.name]]
                pending += started
            if not pending:
                break
            await ctx.save("waited", waited)
            await self._wait(pending)
        else:
            raise OperationFailedError(
                f"user {userid!r} still owns resources after {MAX_ROUNDS} rounds", code="cascade_incomplete"
            )
        async with self.db.write() as session:
            gone = await users.remove_user(session, userid)
        for listener in self.on_deleted:
            listener(userid)
        log.info("user %s deleted with everything they owned", userid)
        return {"userid": userid, "operations": waited, "user": "deleted" if gone else "already gone"}

    async def _exists(self, userid: str) -> bool:
        async with self.db.read() as session:
            return await users.find_user(session, userid) is not None

    async def _wait(self, op_ids: list[str]) -> None:
        async def load() -> list[Operation]:
            async with self.db.read() as session:
                rows = await session.execute(select(Operation).where(Operation.id.in_(op_ids)))
                return list(rows.scalars())

        polled = await poll_until(
            load,
            lambda found: all(op.state in ops.TERMINAL_STATES for op in found),
            timeout_s=self.wait_s,
            interval_s=self.poll_s,
        )
        if not polled.done:  # still running: resume later, from a fresh look at what the user owns
            raise RetryableError("the user's resources are still being deleted", code="cascade_waiting")
        failed = [op for op in polled.value if op.state != "succeeded" and op.kind.endswith(".delete")]
        if failed:
            raise OperationFailedError(
                f"{len(failed)} deletion(s) failed; fix them and delete the user again",
                code="cascade_failed",
                details=[{"operation_id": op.id, "kind": op.kind, "target": op.target_id, "error": op.error}
                         for op in failed],
            )  # fmt: skip

    async def on_failure(self, ctx: OperationContext[DeleteUserParams], error: OperationFailedError) -> None:
        """Nothing to undo: the user stays, with whatever could not be deleted."""
        log.warning("deleting user %s failed: %s", ctx.params.userid, error)
