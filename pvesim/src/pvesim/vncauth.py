"""VNC passwords, PVEVNC tickets and the VNC Authentication DES challenge.

Sources: pve-common Ticket.pm (`generate_vnc_password`, `verify_rsa_ticket`), pve-access-control AccessControl.pm
(`assemble_vnc_ticket`, `verify_vnc_ticket`, `$verify_short_lived_ticket`), QEMU ui/vnc.c
(`protocol_client_auth_vnc`). PVE signs tickets with RSA; pvesim signs with its cluster secret (HMAC), like its
other tickets: a client cannot tell the difference.
"""

from __future__ import annotations

import hmac
import re
import secrets
import time

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes

from pvesim.auth import sign

# Ticket.pm generate_vnc_password: 8 bytes from '!' to '`' (the schema text says '~', the code uses '`').
VNC_PASSWORD_ALPHABET = "".join(chr(c) for c in range(ord("!"), ord("`") + 1))
# AccessControl.pm $verify_short_lived_ticket: -20 s < age < 40 s.
VNC_TICKET_MIN_AGE = -20
VNC_TICKET_MAX_AGE = 40
_VNC_TICKET = re.compile(r"^PVEVNC:([0-9A-F]{8})::([A-Za-z0-9+/=]+)$")
# verify_vnc_ticket strips a leading password ("<8 chars>:"), the compatibility prefix of qemu-server 9.1.7.
_PASSWORD_PREFIX = re.compile(r"^.{8}:(?=PVEVNC:)", re.DOTALL)
CHALLENGE_SIZE = 16


def generate_vnc_password() -> str:
    """Return a fresh 8-character VNC password."""
    return "".join(secrets.choice(VNC_PASSWORD_ALPHABET) for _ in range(8))


def _signed_data(user: str, path: str, port: int) -> str:
    return f"{user}:{path}:{port}"


def make_vnc_ticket(secret: bytes, user: str, path: str, port: int, now: float | None = None) -> str:
    """Return `PVEVNC:<HEX time>::<signature>` signed for (user, path, port); the user is not in plain text."""
    stamp = f"{int(now if now is not None else time.time()):08X}"
    return f"PVEVNC:{stamp}::{sign(secret, f'PVEVNC:{stamp}:' + _signed_data(user, path, port))}"


def verify_vnc_ticket(secret: bytes, ticket: str, user: str, path: str, port: int) -> bool:
    """Return True if `ticket` (optionally `<password>:`-prefixed) was signed for (user, path, port) < 40 s ago."""
    match = _VNC_TICKET.match(_PASSWORD_PREFIX.sub("", ticket, count=1))
    if match is None:
        return False
    stamp, signature = match.groups()
    expected = sign(secret, f"PVEVNC:{stamp}:" + _signed_data(user, path, port))
    if not hmac.compare_digest(expected, signature.rstrip("=")):
        return False
    age = time.time() - int(stamp, 16)
    return VNC_TICKET_MIN_AGE < age < VNC_TICKET_MAX_AGE


def _des_key(password: str) -> bytes:
    # QEMU keys DES with the first 8 bytes of the password, NUL-padded; VNC reverses the bits of every key byte.
    raw = password.encode("latin-1", "replace")[:8].ljust(8, b"\0")
    return bytes(int(f"{byte:08b}"[::-1], 2) for byte in raw)


def vnc_auth_response(password: str, challenge: bytes) -> bytes:
    """Return the DES-ECB encryption of `challenge` keyed with `password`, as a VNC client sends it."""
    key = _des_key(password)
    # TripleDES with the key repeated three times is single DES.
    encryptor = Cipher(TripleDES(key * 3), modes.ECB()).encryptor()  # noqa: S305 - VNC's protocol demands ECB
    return encryptor.update(challenge) + encryptor.finalize()


def new_challenge() -> bytes:
    """Return a random 16-byte VNC Authentication challenge."""
    return secrets.token_bytes(CHALLENGE_SIZE)
