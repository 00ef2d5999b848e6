"""Extracting an uploaded ZIP as hostile input (docs/sources.md): everything is checked from the central
directory before anything touches the disk (paths, names the filesystem can hold, sizes, the expansion ratio of
each entry and of the whole archive), then entries are streamed with running byte counters into a fresh staging
directory that is moved into place only on success. An OS error while writing becomes a 4xx when the archive caused
it and an honest 5xx (``apps.errors.storage_error``) when the server's disk did."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from cloudfaster.apps.errors import IntakeError, storage_error
from cloudfaster.apps.staging import check_target_free, make_staging_dir, move_into_place, remove_quietly

CHUNK = 64 * 1024
RATIO_MIN_BYTES = 1024 * 1024  # tiny entries (and archives) may compress extremely well without being a bomb
MAX_DEPTH = 100  # folders inside folders; deeper trees break tools (and os.walk's recursion) long before PATH_MAX
NAME_MAX = 255  # bytes per name and per path on Linux filesystems, when pathconf cannot tell
PATH_MAX = 4096
STAGING_NAME_BYTES = 40  # ".<target>.<random>.extract/" added by make_staging_dir, with room to spare
_DRIVE = re.compile(r"^[A-Za-z]:")
IGNORED_TOP = ("__MACOSX",)


class ZipRejectedError(IntakeError):
    """The upload is not an acceptable ZIP; ``code`` says why (``zip_*``)."""

    code = "zip_invalid"


@dataclass(frozen=True)
class ZipLimits:
    """Size and count limits for one upload."""

    max_zip_bytes: int
    max_unpacked_bytes: int
    max_entries: int
    max_ratio: int


@dataclass(frozen=True)
class ExtractResult:
    """What was extracted."""

    files: int
    bytes: int


@dataclass(frozen=True)
class _FsLimits:
    """What the filesystem under the target can hold: bytes per name, bytes per relative path."""

    name_max: int
    path_max: int

    @classmethod
    def under(cls, target: Path) -> _FsLimits:
        """The limits for entries extracted below ``target`` (looked up on its nearest existing ancestor)."""
        existing = target.parent.resolve()
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        try:
            name_max = os.pathconf(existing, "PC_NAME_MAX")
            path_max = os.pathconf(existing, "PC_PATH_MAX")
        except (OSError, ValueError):
            name_max, path_max = NAME_MAX, PATH_MAX
        base = len(os.fsencode(target.parent.resolve())) + len(os.fsencode(target.name)) + STAGING_NAME_BYTES
        return cls(name_max=name_max, path_max=path_max - base)


@dataclass(frozen=True)
class _Entry:
    info: zipfile.ZipInfo
    parts: tuple[str, ...]
    is_dir: bool


def _size_of(archive: Path | BinaryIO) -> int:
    if isinstance(archive, Path):
        return archive.stat().st_size
    position = archive.tell()
    size = archive.seek(0, os.SEEK_END)
    archive.seek(position)
    return size


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return info.create_system == 3 and stat.S_ISLNK(info.external_attr >> 16)


def _entry_parts(name: str) -> tuple[str, ...]:
    if "\x00" in name or "\\" in name or name.startswith("/") or _DRIVE.match(name):
        raise ZipRejectedError(f"entry {name[:100]!r} has an absolute or non-POSIX path", code="zip_path_traversal")
    parts = tuple(p for p in PurePosixPath(name).parts if p not in ("", "."))
    if ".." in parts:
        raise ZipRejectedError(f"entry {name[:100]!r} points outside the archive", code="zip_path_traversal")
    return parts


def _check_name(name: str, parts: tuple[str, ...], fs: _FsLimits) -> None:
    if len(parts) > MAX_DEPTH:
        raise ZipRejectedError(
            f"entry {name[:100]!r} is nested {len(parts)} folders deep; at most {MAX_DEPTH} are allowed",
            code="zip_too_deep",
        )
    longest = max(len(os.fsencode(part)) for part in parts)
    if longest > fs.name_max:
        raise ZipRejectedError(
            f"entry {name[:100]!r} has a name of {longest} bytes; the filesystem allows {fs.name_max}",
            code="zip_name_too_long",
        )
    length = len(os.fsencode("/".join(parts)))
    if length > fs.path_max:
        raise ZipRejectedError(
            f"entry {name[:100]!r} has a path of {length} bytes; at most {fs.path_max} fit here",
            code="zip_name_too_long",
        )


def ratio_budget(archive_bytes: int, limits: ZipLimits) -> int:
    """The most an archive of ``archive_bytes`` may expand to before it counts as a bomb."""
    return max(RATIO_MIN_BYTES, limits.max_ratio * archive_bytes)


def _bomb(budget: int, limits: ZipLimits) -> ZipRejectedError:
    return ZipRejectedError(
        f"the ZIP expands to more than {budget} bytes, over {limits.max_ratio}x its size (zip bomb)", code="zip_bomb"
    )


def _check_entries(zf: zipfile.ZipFile, limits: ZipLimits, fs: _FsLimits, budget: int) -> list[_Entry]:
    infos = zf.infolist()
    if len(infos) > limits.max_entries:
        raise ZipRejectedError(
            f"the ZIP has {len(infos)} entries; at most {limits.max_entries} are allowed. Leave node_modules "
            "(and other installed dependencies) out: the build installs them",
            code="zip_too_many_entries",
        )
    entries: list[_Entry] = []
    seen: set[tuple[str, ...]] = set()
    total = 0
    for info in infos:
        parts = _entry_parts(info.filename)
        if not parts or parts[0] in IGNORED_TOP:
            continue
        _check_name(info.filename, parts, fs)
        if _is_symlink(info):
            raise ZipRejectedError(f"entry {info.filename[:100]!r} is a symbolic link", code="zip_symlink")
        if info.flag_bits & 0x1:
            raise ZipRejectedError(f"entry {info.filename[:100]!r} is encrypted", code="zip_invalid")
        if parts in seen:
            raise ZipRejectedError(f"entry {info.filename[:100]!r} appears twice", code="zip_duplicate_entry")
        seen.add(parts)
        total += info.file_size
        if info.file_size > RATIO_MIN_BYTES and info.file_size > limits.max_ratio * max(info.compress_size, 1):
            raise ZipRejectedError(
                f"entry {info.filename[:100]!r} expands more than {limits.max_ratio}x (zip bomb)", code="zip_bomb"
            )
        entries.append(_Entry(info=info, parts=parts, is_dir=info.is_dir()))
    if total > limits.max_unpacked_bytes:
        raise ZipRejectedError(f"the ZIP unpacks to more than {limits.max_unpacked_bytes} bytes", code="zip_too_large")
    if total > budget:
        raise _bomb(budget, limits)
    files = {e.parts for e in entries if not e.is_dir}
    for entry in entries:
        for depth in range(1, len(entry.parts)):
            if entry.parts[:depth] in files:
                raise ZipRejectedError(
                    f"entry {entry.info.filename[:100]!r} is inside a file entry", code="zip_path_conflict"
                )
    return entries


def _strip_single_root(entries: list[_Entry]) -> list[_Entry]:
    """Drop a single top-level folder that wraps everything (as in GitHub's source ZIPs)."""
    tops = {e.parts[0] for e in entries}
    if len(tops) != 1 or not all(len(e.parts) > 1 or e.is_dir for e in entries):
        return entries
    return [_Entry(e.info, e.parts[1:], e.is_dir) for e in entries if len(e.parts) > 1]


@contextlib.contextmanager
def _open_zip(archive: Path | BinaryIO) -> Iterator[zipfile.ZipFile]:
    try:
        with zipfile.ZipFile(archive) as zf:
            yield zf
    except zipfile.BadZipFile as exc:
        code = "zip_bomb" if "zip bomb" in str(exc).lower() else "zip_invalid"
        raise ZipRejectedError(f"not a valid ZIP archive: {exc}", code=code) from exc
    except (zipfile.LargeZipFile, NotImplementedError, EOFError, ValueError) as exc:
        raise ZipRejectedError(f"unsupported ZIP archive: {exc}", code="zip_invalid") from exc


def _os_error(exc: OSError, name: str) -> Exception:
    """What an OS error while writing ``name`` means: the archive's fault (4xx) or the server's (5xx)."""
    entry = f"entry {name[:100]!r}"
    if exc.errno == errno.ENAMETOOLONG:
        return ZipRejectedError(f"{entry} has a name too long for the filesystem", code="zip_name_too_long")
    if exc.errno in (errno.ENOTDIR, errno.EEXIST, errno.EISDIR, errno.ELOOP):
        return ZipRejectedError(f"{entry} clashes with another entry ({exc.strerror})", code="zip_path_conflict")
    if exc.errno in (errno.EILSEQ, errno.EINVAL):
        return ZipRejectedError(f"{entry} has a name the filesystem cannot store", code="zip_name_invalid")
    if exc.errno == errno.EFBIG:
        return ZipRejectedError(f"{entry} is too large for the filesystem", code="zip_too_large")
    if exc.errno == errno.EMLINK:
        return ZipRejectedError(f"{entry} is in a folder with too many entries", code="zip_too_many_entries")
    return storage_error(exc)


def _folders(entries: list[_Entry]) -> list[tuple[str, ...]]:
    """Every folder the entries need, each parent before its children."""
    needed: set[tuple[str, ...]] = set()
    for entry in entries:
        parts = entry.parts if entry.is_dir else entry.parts[:-1]
        needed.update(parts[:depth] for depth in range(1, len(parts) + 1))
    return sorted(needed, key=len)


def _make_folder(root: Path, parts: tuple[str, ...], owner: tuple[int, int] | None) -> None:
    path = root.joinpath(*parts)
    try:
        os.mkdir(path, 0o755)
    except FileExistsError:  # the same folder under another spelling, on a case-insensitive filesystem
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            raise
        return
    if not path.resolve().is_relative_to(root):
        raise ZipRejectedError(f"entry {'/'.join(parts)[:100]!r} escapes", code="zip_path_traversal")
    os.chmod(path, 0o755)  # noqa: S103 - site content is served by a container user; mkdir's mode minus the umask
    if owner is not None:
        os.lchown(path, *owner)


def _extract_entries(
    zf: zipfile.ZipFile,
    entries: list[_Entry],
    staging: Path,
    limits: ZipLimits,
    budget: int,
    owner: tuple[int, int] | None,
) -> ExtractResult:
    """Create the folders, then write the files into them; ``owner`` (when root) owns everything."""
    root = staging.resolve()
    os.chmod(root, 0o755)  # noqa: S103 - as every folder below it
    if owner is not None:
        os.lchown(root, *owner)
    for parts in _folders(entries):
        try:
            _make_folder(root, parts, owner)
        except OSError as exc:
            raise _os_error(exc, "/".join(parts)) from exc
    files = [entry for entry in entries if not entry.is_dir]
    return ExtractResult(files=len(files), bytes=_Writer(zf, str(root), limits, budget, owner).write_all(files))


# O_EXCL refuses any existing name, a symbolic link included, so a file lands in the folder _make_folder checked.
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class _Writer:
    """Writes file entries one after another, counting every byte. (Four writer threads were tried: on two cores
    they took 2.7x as long, 78 ms against 29 ms for 500 files, handing the GIL and the ZipFile's lock around.)"""

    def __init__(
        self, zf: zipfile.ZipFile, root: str, limits: ZipLimits, budget: int, owner: tuple[int, int] | None
    ) -> None:
        self.zf, self.root, self.limits, self.budget, self.owner = zf, root, limits, budget, owner
        self.written = 0

    def write_all(self, files: list[_Entry]) -> int:
        """Write every entry, stopping at the first failure; the total bytes written."""
        for entry in files:
            self.write(entry)
        return self.written

    def write(self, entry: _Entry) -> None:
        """Write one file entry (its folder exists)."""
        try:
            fd = os.open(os.path.join(self.root, *entry.parts), _CREATE, 0o644)
            with open(fd, "wb") as sink:
                os.fchmod(fd, 0o644)  # the mode minus the umask otherwise
                if self.owner is not None:
                    os.fchown(fd, *self.owner)
                self._copy(entry, sink)
        except OSError as exc:
            raise _os_error(exc, entry.info.filename) from exc

    def _copy(self, entry: _Entry, sink: BinaryIO) -> None:
        entry_bytes = 0
        with self.zf.open(entry.info) as source:
            while chunk := source.read(CHUNK):
                entry_bytes += len(chunk)
                self.written += len(chunk)
                self._check(entry, entry_bytes)
                sink.write(chunk)

    def _check(self, entry: _Entry, entry_bytes: int) -> None:
        if entry_bytes > entry.info.file_size:
            raise ZipRejectedError(f"entry {entry.info.filename[:100]!r} lies about its size", code="zip_bomb")
        if self.written > self.limits.max_unpacked_bytes:
            raise ZipRejectedError(
                f"the ZIP unpacks to more than {self.limits.max_unpacked_bytes} bytes", code="zip_too_large"
            )
        if self.written > self.budget:
            raise _bomb(self.budget, self.limits)


def extract_zip(
    archive: Path | BinaryIO,
    target: Path,
    limits: ZipLimits,
    *,
    owner: tuple[int, int] | None = None,
    strip_single_root: bool = True,
) -> ExtractResult:
    """Extract ``archive`` into ``target`` (absent or empty) or raise ``ZipRejectedError`` leaving nothing behind."""
    size = _size_of(archive)
    if size > limits.max_zip_bytes:
        raise ZipRejectedError(f"the upload is {size} bytes; at most {limits.max_zip_bytes}", code="zip_too_large")
    check_target_free(target)
    budget = ratio_budget(size, limits)
    with _open_zip(archive) as zf:
        entries = _check_entries(zf, limits, _FsLimits.under(target), budget)
        if strip_single_root:
            entries = _strip_single_root(entries)
        try:
            staging = make_staging_dir(target, "extract")
        except OSError as exc:
            raise storage_error(exc) from exc
        try:
            chown = owner if owner is not None and os.geteuid() == 0 else None  # only root can give files away
            try:
                result = _extract_entries(zf, entries, staging, limits, budget, chown)
            except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
                code = "zip_bomb" if "zip bomb" in str(exc).lower() else "zip_invalid"
                raise ZipRejectedError(f"corrupt ZIP entry: {exc}", code=code) from exc
            move_into_place(staging, target)
        except OSError as exc:
            remove_quietly(staging)
            raise storage_error(exc) from exc
        except BaseException:
            remove_quietly(staging)
            raise
    return result
