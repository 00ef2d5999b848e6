"""The Filebrowser sidecar: generated credentials and what the container needs to create its admin.

Filebrowser's quick setup creates the first user from ``FB_USERNAME`` and ``FB_PASSWORD`` when its database does
not exist yet; ``--password``/``FB_PASSWORD`` is stored as given, so it must already be a bcrypt hash, or the user
can never log in (filebrowser/filebrowser ``cmd/root.go`` quickSetup; notes/docker-side.md §2). Minimum password
length is 12.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from cloudfaster.apps.spec import random_token

FILEBROWSER_PORT = 80
MIN_PASSWORD_LENGTH = 12
# Filebrowser hashes with bcrypt's default cost (golang.org/x/crypto/bcrypt DefaultCost = 10).
BCRYPT_ROUNDS = 10


@dataclass(frozen=True)
class FilebrowserCredentials:
    """A Filebrowser admin login; the plaintext password is shown to the user once and never stored."""

    username: str
    password: str

    def password_hash(self) -> str:
        """The bcrypt hash Filebrowser expects in ``FB_PASSWORD``."""
        return hash_password(self.password)


def generate_credentials() -> FilebrowserCredentials:
    """A random username and a random 24-character password."""
    return FilebrowserCredentials(username=f"fb-{secrets.token_hex(4)}", password=random_token(24))


def hash_password(password: str) -> str:
    """bcrypt-hash a Filebrowser password (at least 12 characters, as Filebrowser requires)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"Filebrowser passwords need at least {MIN_PASSWORD_LENGTH} characters")
    import bcrypt  # with the first service that gets a Filebrowser: an idle server does not hold it

    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=BCRYPT_ROUNDS)).decode()


def verify_password(password: str, password_hash: str) -> bool:
    """Whether ``password`` matches a hash from ``hash_password``."""
    import bcrypt

    return bcrypt.checkpw(password.encode(), password_hash.encode())


def filebrowser_env(username: str, password_hash: str) -> dict[str, str]:
    """The sidecar's environment: quick-setup admin, port, and the defaults that keep it locked down."""
    if not password_hash.startswith(("$2a$", "$2b$", "$2y$")) or len(password_hash) != 60:
        raise ValueError("FB_PASSWORD must be a bcrypt hash")
    return {
        "FB_USERNAME": username,
        "FB_PASSWORD": password_hash,
        "FB_PORT": str(FILEBROWSER_PORT),
        "FB_ROOT": "/srv",
        "FB_DATABASE": "/database/filebrowser.db",
    }
