"""Service names as DNS labels: ``<service>-<user>`` and ``files-<service>-<user>``, sanitised, and never the same
name for two different (service, user) pairs.

- A *plain* label is ``<service>-<user>`` as given, used only when both are already ``[a-z0-9]+`` (so it has exactly
  one hyphen, which splits it unambiguously), the service is not ``files`` and it fits.
- Anything else gets a *hashed* label, ``<12 base32 chars of sha256(service, user)>-<service'>-<user'>``, the two
  parts sanitised and cut to fit: it has at least two hyphens, so it is never a plain label.
- A Filebrowser name is ``files-`` plus the label. No label starts with ``files-`` (plain ones cannot, hashed ones
  have their first hyphen at position 12), so app names and Filebrowser names never meet either.
"""

from __future__ import annotations

import base64
import hashlib
import re

MAX_LABEL = 63
FILES_PREFIX = "files-"
MAX_APP_LABEL = MAX_LABEL - len(FILES_PREFIX)  # so that files-<label> is a label too
HASH_CHARS = 12  # 60 bits
_PLAIN = re.compile(r"[a-z0-9]+")
_NOT_LABEL = re.compile(r"[^a-z0-9]+")


def _digest(service: str, user: str) -> str:
    raw = hashlib.sha256(f"{service}\0{user}".encode()).digest()
    return base64.b32encode(raw).decode().lower()[:HASH_CHARS]


def _part(name: str) -> str:
    return _NOT_LABEL.sub("-", name.lower()).strip("-") or "x"


def app_label(service: str, user: str) -> str:
    """The DNS label of a service's app (at most 57 characters, so that its Filebrowser label fits too)."""
    plain = f"{service}-{user}"
    if _PLAIN.fullmatch(service) and _PLAIN.fullmatch(user) and service != "files" and len(plain) <= MAX_APP_LABEL:
        return plain
    room = MAX_APP_LABEL - HASH_CHARS - 2  # two hyphens
    svc, usr = _part(service), _part(user)
    keep_user = min(len(usr), max(room // 2, room - len(svc)))
    svc = svc[: room - keep_user].strip("-") or "x"
    usr = usr[:keep_user].strip("-") or "x"
    return f"{_digest(service, user)}-{svc}-{usr}"


def files_label(service: str, user: str) -> str:
    """The DNS label of a service's Filebrowser."""
    return FILES_PREFIX + app_label(service, user)


def is_hostname(name: str) -> bool:
    """Whether ``name`` is a lowercase DNS name of at least two labels (no IP literal, no wildcard)."""
    labels = name.split(".")
    return (
        len(name) <= 253
        and len(labels) >= 2
        and all(re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", label) for label in labels)
        and not labels[-1].isdigit()
    )
