"""Bodies of bulk registration and of deleting a user with everything they own."""

from __future__ import annotations

from collections import Counter
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

from cloudfaster.api.accepted import OperationRef
from cloudfaster.api.schemas.core import KeyCreated, UserCreate, UserRead
from cloudfaster.core.users import BulkItem, BulkOutcome

BULK_MAX = 500


class UsersBulkCreate(BaseModel):
    """Register a class list at once; each entry is created or reported with its error, on its own."""

    model_config = ConfigDict(extra="forbid")

    users: list[UserCreate] = Field(min_length=1, max_length=BULK_MAX, description=f"At most {BULK_MAX} users")
    keys: StrictBool = Field(default=False, description="Also create an API key for each new user (shown once)")

    @field_validator("users")
    @classmethod
    def _distinct(cls, users: list[UserCreate]) -> list[UserCreate]:
        twice = sorted(userid for userid, n in Counter(u.userid for u in users).items() if n > 1)
        if twice:
            raise ValueError(f"userids listed more than once: {', '.join(twice)}")
        return users


class BulkError(BaseModel):
    """Why one entry was not created."""

    code: str
    message: str
    details: Any = None


class BulkUserResult(BaseModel):
    """One entry: ``created``, ``exists`` (same userid and username already registered) or ``failed``."""

    userid: str
    outcome: BulkOutcome
    user: UserRead | None = None
    key: KeyCreated | None = Field(default=None, description="The new user's API key, shown this once")
    error: BulkError | None = None

    @classmethod
    def of(cls, item: BulkItem) -> BulkUserResult:
        """The view of one entry's outcome."""
        key = None
        if item.key is not None:
            row = item.key.key
            key = KeyCreated(
                prefix=row.prefix, name=row.name, admin=False, userid=item.userid, created_at=row.created_at,
                expires_at=row.expires_at, revoked_at=None, key=item.key.token,
            )  # fmt: skip
        error = item.error
        return cls(
            userid=item.userid,
            outcome=item.outcome,
            user=UserRead.model_validate(item.user) if item.user is not None else None,
            key=key,
            error=BulkError(code=error.code, message=error.message, details=error.details) if error else None,
        )


class UsersBulkResult(BaseModel):
    """What a bulk registration did, entry by entry, in the order given."""

    created: int
    existing: int
    failed: int
    results: list[BulkUserResult]


class UserDeletion(BaseModel):
    """A user being deleted with everything they own: follow ``operation``."""

    userid: str
    operation: OperationRef
