"""Telling a database outage apart from a database refusing a statement."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout


def database_unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` means the database could not be reached (an outage), not that a statement was refused."""
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeout):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)
