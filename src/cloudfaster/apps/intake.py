"""Source intake on the request path: a ZIP is extracted, or a repository cloned, into a fresh staging directory
before the API answers, so hostile input is refused with a 4xx and leaves nothing behind. The operation later
moves the staged tree into the service's ``data/`` with one rename. An uploaded ZIP is staged beside it as
``source.zip``: the deployment keeps that one file for rollbacks, not a second copy of the tree."""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import shutil
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from cloudfaster.apps import store
from cloudfaster.apps.errors import IntakeError, intake_error, storage_error
from cloudfaster.apps.git_intake import GitRejectedError, clone_git, validate_git_ref, validate_git_url
from cloudfaster.apps.layout import content_owner
from cloudfaster.apps.runtime import AppRuntime
from cloudfaster.apps.zip_intake import ExtractResult, ZipLimits, extract_zip
from cloudfaster.core.errors import ValidationFailedError
from cloudfaster.settings import Settings

CHUNK = 1024 * 1024
SOURCE_ZIP = "source.zip"  # an uploaded ZIP, staged beside data/ for the deployment to keep
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
    digest: str | None = None  # an upload's SHA-256, taken while it was copied to staging


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


def _copy_upload(upload: BinaryIO, target: Path) -> str:
    """Write the upload to a new private file (left rewound); its SHA-256."""
    upload.seek(0)
    hasher = hashlib.sha256()
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as sink:
        while chunk := upload.read(CHUNK):
            hasher.update(chunk)
            sink.write(chunk)
    upload.seek(0)
    return hasher.hexdigest()


def _stage_upload(
    upload: BinaryIO, staging: Path, limits: ZipLimits, owner: tuple[int, int]
) -> tuple[ExtractResult, str]:
    upload.seek(0)
    result = extract_zip(upload, staging / "data", limits, owner=owner)
    return result, _copy_upload(upload, staging / SOURCE_ZIP)


def _stage_kept(kept: Path, staging: Path, limits: ZipLimits, owner: tuple[int, int]) -> ExtractResult:
    result = extract_zip(kept, staging / "data", limits, owner=owner)
    try:  # a kept ZIP is never written again, so the new deployment may share it
        os.link(kept, staging / SOURCE_ZIP)
    except OSError:
        shutil.copyfile(kept, staging / SOURCE_ZIP)
    return result


async def _stage(rt: AppRuntime, fill: Callable[[Path, tuple[int, int]], Awaitable[StagedSource]]) -> StagedSource:
    """A new staging directory filled by ``fill(staging, owner)``; on any failure it is removed and
    an intake or OS error becomes the 4xx or 5xx it stands for."""
    docker = rt.settings.docker
    owner = content_owner(docker.files_uid, docker.files_gid)
    try:
        staging = new_staging_dir(rt.settings)
    except OSError as exc:
        raise storage_error(exc) from exc
    try:
        return await fill(staging, owner)
    except IntakeError as exc:
        discard(staging)
        raise intake_error(exc) from exc
    except OSError as exc:
        discard(staging)
        raise storage_error(exc) from exc
    except BaseException:
        discard(staging)
        raise


async def stage_source(rt: AppRuntime, source: SourceRequest) -> StagedSource:
    """Extract or clone ``source`` into ``<staging>/data`` (an upload also to ``<staging>/source.zip``); raise a
    4xx ``AppError`` leaving nothing behind."""
    if source.kind == "none":
        return StagedSource(path=None, detail={})
    upload, git_url = source.zip_file, source.git_url

    async def fill(staging: Path, owner: tuple[int, int]) -> StagedSource:
        if upload is not None:
            result, sha256 = await asyncio.to_thread(_stage_upload, upload, staging, rt.zip_limits, owner)
            return StagedSource(staging, {"files": result.files, "bytes": result.bytes}, sha256)
        if git_url is None:  # kind is "git" exactly when git_url is set
            raise ValidationFailedError("no source to stage", code="source_missing")
        cloned = await clone_git(git_url, staging / "data", rt.git_limits, ref=source.git_ref, owner=owner)
        return StagedSource(staging, {"commit": cloned.commit, "bytes": cloned.bytes})

    return await _stage(rt, fill)


async def stage_kept_zip(rt: AppRuntime, kept: Path) -> StagedSource:
    """Stage a deployment's kept ZIP again (for a rollback), through the same checks as an upload."""

    async def fill(staging: Path, owner: tuple[int, int]) -> StagedSource:
        result = await asyncio.to_thread(_stage_kept, kept, staging, rt.zip_limits, owner)
        return StagedSource(staging, {"files": result.files, "bytes": result.bytes})

    return await _stage(rt, fill)


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
