"""API key tokens: generation, parsing and constant-time verification."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

TOKEN_PREFIX = "cf"  # noqa: S105 (a label, not a secret)


@dataclass(frozen=True, slots=True)
class NewKey:
    """A freshly generated key: the token is shown once, only prefix and hash are stored."""

    token: str
    prefix: str
    key_hash: str


def hash_token(token: str) -> str:
    """SHA-256 of the whole token; keys carry 256 bits of entropy, so a slow hash buys nothing."""
    return hashlib.sha256(token.encode()).hexdigest()


def generate_key() -> NewKey:
    """A new random key of the form ``cf_<12 hex prefix>_<43 char secret>``."""
    prefix = secrets.token_hex(6)
    token = f"{TOKEN_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    return NewKey(token=token, prefix=prefix, key_hash=hash_token(token))


def key_from_token(token: str) -> NewKey:
    """Turn a given token (e.g. from CLOUDFASTER_ADMIN_API_KEY) into a storable key."""
    return NewKey(token=token, prefix=lookup_prefix(token), key_hash=hash_token(token))


def lookup_prefix(token: str) -> str:
    """The stored prefix to look a token up by: its own for ``cf_`` tokens, else derived from its hash."""
    parts = token.split("_", 2)
    if len(parts) == 3 and parts[0] == TOKEN_PREFIX and len(parts[1]) == 12:
        return parts[1]
    return "x" + hash_token(token)[:11]


def matches(token: str, key_hash: str) -> bool:
    """Whether the token hashes to the stored hash, compared in constant time."""
    return hmac.compare_digest(hash_token(token), key_hash)
