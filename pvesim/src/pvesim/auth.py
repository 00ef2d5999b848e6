"""API tokens, tickets and CSRF tokens (pve-common Ticket.pm, pve-access-control AccessControl.pm)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote

from pvesim.config import TokenSpec
from pvesim.errors import PveError

TICKET_LIFETIME = 7200  # AccessControl.pm $ticket_lifetime
_TOKEN_HEADER = re.compile(r"(?:^|\s)PVEAPIToken(?:=| )([^;]*)")
_TICKET = re.compile(r"^PVE:([^:\s]+):([0-9A-F]{8})::([A-Za-z0-9+/=]+)$")
_COOKIE_AUTH = re.compile(r"(?:^|\s|;)PVEAuthCookie=([^;]*)")


@dataclass(frozen=True)
class Identity:
    """Who made a request: the user, and the token name when a token was used."""

    user: str
    token: str | None = None

    @property
    def task_user(self) -> str:
        """Return the user as written into UPIDs (`user@realm!token` for tokens)."""
        return f"{self.user}!{self.token}" if self.token else self.user


def sign(secret: bytes, text: str) -> str:
    """Return the base64 HMAC-SHA256 of `text` under the cluster secret (pvesim's stand-in for PVE's RSA)."""
    digest = hmac.new(secret, text.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode().rstrip("=")


def make_ticket(secret: bytes, user: str, now: float | None = None) -> str:
    """Return a `PVE:<user>:<HEX time>::<signature>` ticket (Ticket.pm `assemble_rsa_ticket`)."""
    stamp = f"{int(now if now is not None else time.time()):08X}"
    plain = f"PVE:{user}:{stamp}"
    return f"{plain}::{sign(secret, plain)}"


def verify_ticket(secret: bytes, ticket: str) -> str | None:
    """Return the user of a valid, unexpired ticket, else None."""
    match = _TICKET.match(ticket)
    if match is None:
        return None
    user, stamp, signature = match.groups()
    if not hmac.compare_digest(sign(secret, f"PVE:{user}:{stamp}"), signature.rstrip("=")):
        return None
    age = time.time() - int(stamp, 16)
    if age < -300 or age > TICKET_LIFETIME:
        return None
    return user


def make_csrf_token(secret: bytes, user: str) -> str:
    """Return a `<HEX time>:<signature>` CSRF token (Ticket.pm `assemble_csrf_prevention_token`)."""
    stamp = f"{int(time.time()):08X}"
    return f"{stamp}:{sign(secret, f'{stamp}:{user}')}"


def verify_csrf_token(secret: bytes, user: str, token: str) -> bool:
    """Return True if the CSRF token was made for this user and is not older than the ticket lifetime."""
    stamp, _, signature = token.partition(":")
    if not re.fullmatch(r"[0-9A-F]{8}", stamp):
        return False
    if not hmac.compare_digest(sign(secret, f"{stamp}:{user}"), signature.rstrip("=")):
        return False
    return -300 <= time.time() - int(stamp, 16) <= TICKET_LIFETIME


def parse_token_header(value: str) -> tuple[str, str] | None:
    """Split `PVEAPIToken=USER@REALM!TOKENID=SECRET` into token id and secret (at the last `=`)."""
    match = _TOKEN_HEADER.search(value)
    if match is None:
        return None
    token_id, sep, secret = unquote(match.group(1)).rpartition("=")
    if not sep or "!" not in token_id:
        return None
    return token_id, secret


def authenticate(
    *,
    method: str,
    headers: Mapping[str, str],
    cookie: str | None,
    tokens: list[TokenSpec],
    secret: bytes,
) -> Identity:
    """Authenticate a request by API token or ticket cookie, or raise the 401 PVE sends."""
    authorization = headers.get("Authorization", "")
    token = parse_token_header(authorization) if authorization else None
    if token is not None:
        token_id, token_secret = token
        for spec in tokens:
            if spec.token_id == token_id and hmac.compare_digest(spec.secret, token_secret):
                return Identity(user=spec.user, token=spec.name)
        raise PveError(401, "Authentication failed!", empty_body=True)
    ticket = cookie
    if ticket is None and authorization:
        # HTTPServer falls back to the Authorization header for the cookie value.
        match = _COOKIE_AUTH.search(authorization)
        ticket = unquote(match.group(1)) if match else None
    if not ticket:
        raise PveError(401, "No ticket", empty_body=True)
    user = verify_ticket(secret, ticket)
    if user is None:
        raise PveError(401, "Authentication failed!", empty_body=True)
    if method != "GET":
        csrf = headers.get("CSRFPreventionToken")
        if not csrf or not verify_csrf_token(secret, user, csrf):
            raise PveError(401, "Permission denied - invalid csrf token", empty_body=True)
    return Identity(user=user)
