"""Filebrowser logins hashed ahead: each handed out once, its hash matching, the reserve topped up behind."""

from __future__ import annotations

import asyncio

from cloudfaster.apps.filebrowser import verify_password
from cloudfaster.apps.prepared_logins import PreparedLogins
from cloudfaster.core.polling import Polled, poll_until


async def until_ready(logins: PreparedLogins, count: int) -> Polled[int]:
    """Wait until ``count`` logins are ready."""

    async def ready() -> int:
        return logins.ready

    return await poll_until(ready, lambda n: n == count, timeout_s=10, interval_s=0.02)


async def test_each_login_is_handed_out_once_and_the_reserve_fills_behind() -> None:
    logins = PreparedLogins(keep=2)
    assert logins.ready == 0  # nothing is hashed before a create asks
    taken = await asyncio.gather(*(logins.take() for _ in range(5)))  # more at once than the reserve holds
    assert len({t.credentials.username for t in taken}) == 5
    assert len({t.credentials.password for t in taken}) == 5
    assert all(verify_password(t.credentials.password, t.password_hash) for t in taken)

    assert (await until_ready(logins, 2)).done
    ready = await logins.take()
    assert logins.ready == 1  # handed out from the reserve; the next one is still being hashed
    assert verify_password(ready.credentials.password, ready.password_hash)
    assert ready.credentials.username not in {t.credentials.username for t in taken}
    assert (await until_ready(logins, 2)).done
