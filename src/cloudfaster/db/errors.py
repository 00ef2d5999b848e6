"""Telling a database outage apart from a database refusing a statement."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout


def database_unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` means the database could not be reached (an outage), not that a statement was refused."""
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeout):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def is_deadlock(exc: DBAPIError) -> bool:
    """Whether the engine gave up on the transaction because of a deadlock (InnoDB, PostgreSQL): run it again.

    InnoDB deadlocks when several transactions wait on one duplicate key (their shared locks upgrade crosswise);
    it rolls the transaction back, and the savepoint SQLAlchemy then releases is gone (error 1305).
    """
    text = str(exc.orig) if exc.orig is not None else str(exc)
    return any(marker in text for marker in ("1213", "Deadlock", "deadlock", "40P01", "(1305"))
