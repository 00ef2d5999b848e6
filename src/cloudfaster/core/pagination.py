"""Keyset pagination with one opaque cursor format for every list."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, and_, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from cloudfaster.core.errors import BadRequestError

T = TypeVar("T")
SortKey = InstrumentedAttribute[Any]
AnySelect = Select[*tuple[Any, ...]]


@dataclass(frozen=True, slots=True)
class PageOf(Generic[T]):
    """One page of rows and the cursor of the next page (None at the end)."""

    items: list[T]
    next_cursor: str | None

    def map(self, convert: Callable[[T], Any]) -> PageOf[Any]:
        """The same page with every item converted."""
        return PageOf(items=[convert(item) for item in self.items], next_cursor=self.next_cursor)


def encode_cursor(values: Sequence[Any]) -> str:
    """An opaque cursor pointing after the row whose sort key is ``values``."""
    plain = [value.isoformat() if isinstance(value, datetime) else value for value in values]
    return base64.urlsafe_b64encode(json.dumps(plain, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, keys: Sequence[SortKey]) -> list[Any]:
    """The sort key a cursor points after, typed like ``keys``; a malformed cursor is a 400."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(raw, list) or len(raw) != len(keys):
            raise ValueError("wrong shape")
        return [_typed(value, key) for value, key in zip(raw, keys, strict=True)]
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise BadRequestError(
            "malformed cursor: pass the next_cursor of the previous page unchanged", code="invalid_cursor"
        ) from exc


def _typed(value: Any, key: SortKey) -> Any:
    wanted = key.type.python_type
    if wanted is datetime:
        if not isinstance(value, str):
            raise TypeError("timestamp expected")
        return datetime.fromisoformat(value)
    if wanted is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise TypeError("integer expected")
    if wanted is str and not isinstance(value, str):
        raise TypeError("string expected")
    return value


def _after(keys: Sequence[SortKey], values: Sequence[Any]) -> Any:
    """``(k1, k2, …) > (v1, v2, …)`` spelled out, since not every database compares row values."""
    clauses = []
    for i, key in enumerate(keys):
        equal = [keys[j] == values[j] for j in range(i)]
        clauses.append(and_(*equal, key > values[i]))
    return or_(*clauses)


async def paginate(
    session: AsyncSession,
    query: AnySelect,
    keys: Sequence[SortKey],
    *,
    limit: int,
    cursor: str | None,
    scalars: bool = True,
) -> PageOf[Any]:
    """Run ``query`` ordered by ``keys`` (unique together) and cut one page from it.

    With ``scalars=False`` the items are result rows (tuples) whose first element is the entity the keys belong to.
    """
    if cursor:
        query = query.where(_after(keys, decode_cursor(cursor, keys)))
    result = await session.execute(query.order_by(*keys).limit(limit + 1))
    rows = list(result.scalars()) if scalars else [tuple(row) for row in result]
    has_more = len(rows) > limit
    rows = rows[:limit]
    if not (has_more and rows):
        return PageOf(items=rows, next_cursor=None)
    last = rows[-1] if scalars else rows[-1][0]
    return PageOf(items=rows, next_cursor=encode_cursor([getattr(last, key.key) for key in keys]))
