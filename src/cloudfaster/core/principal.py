"""Who is calling: the identity behind an API key."""

from __future__ import annotations

from dataclasses import dataclass

from cloudfaster.core.errors import ForbiddenError, NotFoundError


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: an admin key, or a key bound to one user."""

    key_id: int
    key_prefix: str
    is_admin: bool
    user_id: int | None
    userid: str | None

    def require_admin(self) -> None:
        """Refuse anyone but an admin."""
        if not self.is_admin:
            raise ForbiddenError("this needs an admin key", code="admin_required")

    def can_see(self, owner_userid: str | None) -> bool:
        """Whether a resource owned by ``owner_userid`` is visible to this caller."""
        return self.is_admin or (owner_userid is not None and owner_userid == self.userid)

    def ensure_visible(self, owner_userid: str | None, what: str) -> None:
        """Hide another user's resource behind a 404, as if it did not exist."""
        if not self.can_see(owner_userid):
            raise NotFoundError(f"{what} not found")

    def acting_userid(self, requested: str | None) -> str:
        """The user a call acts for: admins may name anyone, a user key only itself."""
        if self.is_admin:
            if not requested:
                raise ForbiddenError("an admin key must name the userid to act for", code="userid_required")
            return requested
        if self.userid is None or requested not in (None, self.userid):
            raise ForbiddenError("a user key may act only for its own user", code="other_user")
        return self.userid
