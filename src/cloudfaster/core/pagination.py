"""Keyset pagination with opaque cursors."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from cloudfaster.core.errors import BadRequestError

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PageOf(Generic[T]):
    """One page of rows and the cursor of the next page (None at the end)."""

    items: list[T]
    next_cursor: str | None


def encode_cursor(last_id: int) -> str:
    """An opaque cursor pointing after ``last_id``."""
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The id a cursor points after; a malformed cursor is a 400."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = raw.partition(":")
        if kind != "id":
            raise ValueError(kind)
        return int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise BadRequestError("malformed cursor", code="invalid_cursor") from exc


async def paginate(
    session: AsyncSession,
    query: Select[Any],
    id_column: InstrumentedAttribute[int],
    *,
    limit: int,
    cursor: str | None,
) -> PageOf[Any]:
    """Run ``query`` ordered by ``id_column`` and cut one page from it."""
    if cursor:
        query = query.where(id_column > decode_cursor(cursor))
    rows = list((await session.execute(query.order_by(id_column).limit(limit + 1))).scalars())
    has_more = len(rows) > limit
    rows = rows[:limit]
    return PageOf(items=rows, next_cursor=encode_cursor(rows[-1].id) if has_more and rows else None)
