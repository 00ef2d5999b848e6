"""Extract or clone into a hidden sibling directory, and move it into place only when everything succeeded."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from cloudfaster.apps.errors import IntakeError


def make_staging_dir(target: Path, kind: str) -> Path:
    """A new empty directory next to ``target`` (same filesystem, so the final move is a rename)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=f".{kind}", dir=target.parent))


def check_target_free(target: Path) -> None:
    """Raise unless ``target`` is absent or an empty directory."""
    if target.is_symlink() or (target.exists() and (not target.is_dir() or any(target.iterdir()))):
        raise IntakeError(f"{target.name} already has content", code="intake_target_not_empty")


def move_into_place(staging: Path, target: Path) -> None:
    """Rename ``staging`` to ``target`` (which must be absent or an empty directory)."""
    check_target_free(target)
    if target.exists():
        target.rmdir()
    os.rename(staging, target)


def remove_quietly(path: Path) -> None:
    """Delete a staging directory, whatever is in it."""
    shutil.rmtree(path, ignore_errors=True)


def tree_size(root: Path) -> int:
    """Bytes used by regular files under ``root`` (symlinks are not followed)."""
    total = 0
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except FileNotFoundError:
                continue
    return total
