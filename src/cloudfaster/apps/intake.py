"""Source intake on the request path: a ZIP is extracted, or a repository cloned, into a fresh staging directory
before the API answers, so hostile input is refused with a 4xx and leaves nothing behind. The operation later
moves the staged tree into the service's ``data/`` with one rename."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from cloudfaster.apps import store
from cloudfaster.apps.errors import IntakeError, intake_error, storage_error
from cloudfaster.apps.git_intake import GitRejectedError, clone_git, validate_git_ref, validate_git_url
from cloudfaster.apps.layout import content_owner
from cloudfaster.apps.runtime import AppRuntime
from cloudfaster.apps.zip_intake import extract_zip
from cloudfaster.core.errors import ValidationFailedError
from cloudfaster.settings import Settings

CHUNK = 1024 * 1024
STALE_STAGING_S = 3600.0  # a request stages its source for seconds; anything this old and unreferenced is litter


@dataclass(frozen=True)
class SourceRequest:
    """What the caller asked to deploy: an uploaded ZIP, a git URL (and ref), or nothing."""

    zip_file: BinaryIO | None = None
    zip_name: str | None = None
    git_url: str | None = None
    git_ref: str | None = None

    @property
    def kind(self) -> str:
        """``zip``, ``git`` or ``none``."""
        return "zip" if self.zip_file is not None else "git" if self.git_url else "none"

    @property
    def ref(self) -> str | None:
        """What is recorded as the service's ``source_ref``."""
        if self.kind == "git":
            return f"{self.git_url}#{self.git_ref}" if self.git_ref else self.git_url
        if self.kind == "zip":
            return self.zip_name or "upload.zip"
        return None


@dataclass(frozen=True)
class StagedSource:
    """A staged tree ready to become ``data/`` (``path`` is None when there is no source)."""

    path: Path | None
    detail: dict[str, object]


def check_source(source: SourceRequest) -> None:
    """Refuse a request naming both sources, or a git URL or ref that is not acceptable (no network yet)."""
    if source.zip_file is not None and source.git_url:
        raise ValidationFailedError("send either zip_file or git_repo_url, not both", code="source_ambiguous")
    if source.git_ref and not source.git_url:
        raise ValidationFailedError("git_ref needs git_repo_url", code="source_ambiguous")
    try:
        if source.git_url is not None:
            validate_git_url(source.git_url)
            validate_git_ref(source.git_ref)
    except GitRejectedError as exc:
        raise intake_error(exc) from exc


def digest(file: BinaryIO) -> str:
    """SHA-256 of an uploaded file (left rewound), for Idempotency-Key replays."""
    file.seek(0)
    hasher = hashlib.sha256()
    while chunk := file.read(CHUNK):
        hasher.update(chunk)
    file.seek(0)
    return hasher.hexdigest()


def new_staging_dir(settings: Settings) -> Path:
    """A fresh, private staging directory."""
    root = store.staging_root(settings)
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = root / secrets.token_hex(12)
    path.mkdir(mode=0o700)
    return path


def discard(path: Path | None) -> None:
    """Remove a staging directory and everything in it."""
    if path is not None:
        shutil.rmtree(path, ignore_errors=True)


async def stage_source(rt: AppRuntime, source: SourceRequest) -> StagedSource:
    """Extract or clone ``source`` into ``<staging>/data``; raise a 4xx ``AppError`` leaving nothing behind."""
    if source.kind == "none":
        return StagedSource(path=None, detail={})
    docker = rt.settings.docker
    owner = content_owner(docker.files_uid, docker.files_gid)
    try:
        staging = new_staging_dir(rt.settings)
    except OSError as exc:
        raise storage_error(exc) from exc
    target = staging / "data"
    try:
        if source.zip_file is not None:
            source.zip_file.seek(0)
            result = await asyncio.to_thread(extract_zip, source.zip_file, target, rt.zip_limits, owner=owner)
            return StagedSource(path=staging, detail={"files": result.files, "bytes": result.bytes})
        if source.git_url is None:  # kind is "git" exactly when git_url is set
            raise ValidationFailedError("no source to stage", code="source_missing")
        cloned = await clone_git(source.git_url, target, rt.git_limits, ref=source.git_ref, owner=owner)
        return StagedSource(path=staging, detail={"commit": cloned.commit, "bytes": cloned.bytes})
    except IntakeError as exc:
        discard(staging)
        raise intake_error(exc) from exc
    except OSError as exc:
        discard(staging)
        raise storage_error(exc) from exc
    except BaseException:
        discard(staging)
        raise


async def remove_stale_staging(rt: AppRuntime) -> int:
    """Delete staged uploads and clones that no active operation refers to and that are over an hour old; the
    number removed. Run once at start-up."""
    root = store.staging_root(rt.settings)
    if not root.is_dir():
        return 0
    async with rt.db.read() as session:
        referenced = await store.referenced_staging(session)
    removed = 0
    now = time.time()
    for path in root.iterdir():
        if str(path) in referenced or now - path.stat().st_mtime < STALE_STAGING_S:
            continue
        discard(path)
        removed += 1
    return removed
