"""OpenSSH public key validation: ``<type> <base64 blob> [comment]`` whose blob names the same type."""

from __future__ import annotations

import base64
import binascii
import struct

KEY_TYPES = frozenset(
    {
        "ssh-ed25519",
        "ssh-rsa",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
    }
)
MAX_KEY_LENGTH = 16 * 1024


def check_public_key(line: str) -> str:
    """The key, stripped; ``ValueError`` with a readable reason if it is not a valid OpenSSH public key."""
    key = line.strip()
    if not key:
        raise ValueError("empty key")
    if len(key) > MAX_KEY_LENGTH or "\n" in key or "\r" in key:
        raise ValueError("a key must be one line of at most 16 KiB")
    parts = key.split(None, 2)
    if len(parts) < 2:
        raise ValueError("expected '<type> <base64 key> [comment]'")
    key_type, blob = parts[0], parts[1]
    if key_type not in KEY_TYPES:
        raise ValueError(f"unsupported key type {key_type!r} (use one of {', '.join(sorted(KEY_TYPES))})")
    try:
        raw = base64.b64decode(blob, validate=True)
        (length,) = struct.unpack(">I", raw[:4])
        embedded = raw[4 : 4 + length].decode("ascii")
    except (binascii.Error, struct.error, UnicodeDecodeError) as exc:
        raise ValueError("the key data is not valid base64 of an OpenSSH key") from exc
    if embedded != key_type:
        raise ValueError(f"the key data is a {embedded!r} key, not {key_type!r}")
    if len(raw) < 4 + length + 16:
        raise ValueError("the key data is truncated")
    return key
