"""Values as PVE wants them on the wire (notes/pve-behaviour.md §1, §8, §15)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import quote


def pve_bool(value: bool) -> int:
    """PVE accepts only 1/0 for top-level booleans; proxmoxer would send ``True`` (refused with 400)."""
    return 1 if value else 0


def encode_sshkeys(keys: Iterable[str]) -> str:
    """Percent-encode keys for the ``sshkeys`` option: PVE's ``urlencoded`` format wants %20, never ``+``."""
    return quote("\n".join(key.strip() for key in keys), safe="")


def as_int(value: Any, default: int = 0) -> int:
    """An integer from a PVE answer, which may be a JSON number or (Perl stringification) a string."""
    if value is None or value == "":
        return default
    return int(float(value))


def upid_node(upid: str) -> str:
    """The node a UPID's task runs on (``UPID:<node>:...``)."""
    parts = upid.split(":")
    if len(parts) < 9 or parts[0] != "UPID":
        raise ValueError(f"not a UPID: {upid!r}")
    return parts[1]
