"""ZIP intake: hostile archives are rejected with their code and leave nothing on disk."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import shutil
import stat
import subprocess
import warnings
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cloudfaster.apps.errors import IntakeError
from cloudfaster.apps.zip_intake import ZipLimits, ZipRejectedError, extract_zip
from cloudfaster.core.errors import AppError
from tests.apps.support import files_under
from tests.support.app import Api
from tests.support.rig import require

LIMITS = ZipLimits(max_zip_bytes=5_000_000, max_unpacked_bytes=20_000_000, max_entries=50, max_ratio=100)


def make_zip(entries: list[tuple[str | zipfile.ZipInfo, bytes]], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about duplicate names, which one test wants
        with zipfile.ZipFile(buffer, "w", compression) as zf:
            for name, data in entries:
                zf.writestr(name, data)
    return buffer.getvalue()


def symlink_entry(name: str, target: str) -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, target.encode()


def corrupt_second_entry(data: bytes) -> bytes:
    """Flip a byte inside the second entry's compressed data (its CRC check fails on read)."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        second = zf.infolist()[1]
    offset = second.header_offset + 30 + len(second.filename.encode()) + 2
    mutable = bytearray(data)
    mutable[offset] ^= 0xFF
    return bytes(mutable)


def assert_nothing_left(parent: Path) -> None:
    assert sorted(p.name for p in parent.iterdir()) == []


HOSTILE: dict[str, tuple[Callable[[], bytes], str]] = {
    "dotdot": (lambda: make_zip([("../evil.txt", b"x")]), "zip_path_traversal"),
    "nested-dotdot": (lambda: make_zip([("a/../../evil.txt", b"x")]), "zip_path_traversal"),
    "absolute": (lambda: make_zip([("/etc/evil", b"x")]), "zip_path_traversal"),
    "backslash": (lambda: make_zip([("..\\evil.txt", b"x")]), "zip_path_traversal"),
    "drive-letter": (lambda: make_zip([("C:/evil.txt", b"x")]), "zip_path_traversal"),
    "symlink": (lambda: make_zip([("index.html", b"ok"), symlink_entry("link", "/etc/passwd")]), "zip_symlink"),
    "too-many-entries": (lambda: make_zip([(f"f{i}.txt", b"x") for i in range(51)]), "zip_too_many_entries"),
    "too-large-unpacked": (lambda: make_zip([(f"f{i}.bin", bytes(1_000_000)) for i in range(25)]), "zip_too_large"),
    "bomb-ratio": (lambda: make_zip([("bomb.bin", bytes(10_000_000))]), "zip_bomb"),
    "duplicate": (lambda: make_zip([("index.html", b"one"), ("index.html", b"two")]), "zip_duplicate_entry"),
    "file-and-dir": (lambda: make_zip([("a", b"file"), ("a/b.txt", b"x")]), "zip_path_conflict"),
    "not-a-zip": (lambda: b"this is plain text, not an archive", "zip_invalid"),
    "empty": (lambda: b"", "zip_invalid"),
    "truncated": (lambda: make_zip([("index.html", b"hello" * 100)])[:-30], "zip_invalid"),
    "corrupt-data": (
        lambda: corrupt_second_entry(make_zip([("a.txt", b"a" * 1000), ("b.txt", b"b" * 1000)])),
        "zip_invalid",
    ),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_zip_is_rejected_and_leaves_nothing(tmp_path: Path, case: str) -> None:
    build, code = HOSTILE[case]
    upload = tmp_path / "upload.zip"
    upload.write_bytes(build())
    parent = tmp_path / "svc"
    parent.mkdir()

    with pytest.raises(ZipRejectedError) as caught:
        extract_zip(upload, parent / "data", LIMITS)

    assert caught.value.code == code
    assert_nothing_left(parent)


def test_upload_over_the_size_limit_is_rejected_before_parsing(tmp_path: Path) -> None:
    parent = tmp_path / "svc"
    parent.mkdir()
    small = ZipLimits(max_zip_bytes=100, max_unpacked_bytes=10_000, max_entries=10, max_ratio=100)
    with pytest.raises(ZipRejectedError) as caught:
        extract_zip(io.BytesIO(make_zip([("a.txt", b"x" * 1000)], zipfile.ZIP_STORED)), parent / "data", small)
    assert caught.value.code == "zip_too_large"
    assert_nothing_left(parent)


def test_good_zip_extracts_with_safe_modes_and_strips_a_wrapping_folder(tmp_path: Path) -> None:
    data = make_zip(
        [
            ("site/", b""),
            ("site/index.html", b"<h1>hi</h1>"),
            ("site/css/app.css", b"body{}"),
            ("__MACOSX/site/._index.html", b"junk"),
        ]
    )
    target = tmp_path / "svc" / "data"
    target.mkdir(parents=True)  # an empty, pre-created data/ is fine

    result = extract_zip(io.BytesIO(data), target, LIMITS)

    assert result.files == 2
    assert (target / "index.html").read_bytes() == b"<h1>hi</h1>"
    assert (target / "css" / "app.css").read_bytes() == b"body{}"
    assert not (target / "__MACOSX").exists()
    assert stat.S_IMODE((target / "index.html").stat().st_mode) == 0o644
    assert stat.S_IMODE((target / "css").stat().st_mode) == 0o755
    assert sorted(p.name for p in target.parent.iterdir()) == ["data"]


def test_high_ratio_small_files_are_not_bombs(tmp_path: Path) -> None:
    extract_zip(io.BytesIO(make_zip([("zeros.bin", bytes(500_000))])), tmp_path / "data", LIMITS)
    assert (tmp_path / "data" / "zeros.bin").stat().st_size == 500_000


def test_extraction_refuses_a_target_with_content(tmp_path: Path) -> None:
    target = tmp_path / "data"
    target.mkdir()
    (target / "old.html").write_text("old")
    with pytest.raises(IntakeError) as caught:
        extract_zip(io.BytesIO(make_zip([("index.html", b"new")])), target, LIMITS)
    assert caught.value.code == "intake_target_not_empty"
    assert (target / "old.html").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_extracted_files_are_owned_by_the_requested_user(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("chown needs root")
    target = tmp_path / "data"
    extract_zip(io.BytesIO(make_zip([("d/index.html", b"x"), ("e.txt", b"y")])), target, LIMITS, owner=(1000, 1000))
    owners = {(p.stat().st_uid, p.stat().st_gid) for p in [target, *target.rglob("*")]}
    assert owners == {(1000, 1000)}


LONG_NAMES: dict[str, tuple[list[tuple[str | zipfile.ZipInfo, bytes]], str]] = {
    # Linux allows 255 bytes per name (NAME_MAX) and 4096 per path (PATH_MAX).
    "name-over-255-bytes": ([("index.html", b"ok"), ("a" * 300 + ".html", b"x")], "zip_name_too_long"),
    "utf8-name-over-255-bytes": ([("é" * 130 + ".txt", b"x")], "zip_name_too_long"),
    "path-over-4096-bytes": ([("/".join(["d" * 200] * 25) + "/f.txt", b"x")], "zip_name_too_long"),
    "too-deeply-nested": ([("/".join(["d"] * 300) + "/f.txt", b"x")], "zip_too_deep"),
}


@pytest.mark.parametrize("case", sorted(LONG_NAMES))
def test_names_the_filesystem_cannot_hold_are_refused_and_leave_nothing(tmp_path: Path, case: str) -> None:
    entries, code = LONG_NAMES[case]
    parent = tmp_path / "svc"
    parent.mkdir()
    with pytest.raises(ZipRejectedError) as caught:
        extract_zip(io.BytesIO(make_zip(entries)), parent / "data", LIMITS)
    assert caught.value.code == code
    assert "entry" in caught.value.message
    assert_nothing_left(parent)


def test_many_small_entries_cannot_add_up_to_a_bomb(tmp_path: Path) -> None:
    # Each 1 MiB entry of zeros is below the per-entry ratio check; together they are 480 MiB from ~500 KB.
    limits = ZipLimits(max_zip_bytes=5_000_000, max_unpacked_bytes=1 << 30, max_entries=1000, max_ratio=200)
    archive = make_zip([(f"z{i}.bin", bytes(1 << 20)) for i in range(480)])
    assert len(archive) < 600_000
    parent = tmp_path / "svc"
    parent.mkdir()
    with pytest.raises(ZipRejectedError) as caught:
        extract_zip(io.BytesIO(archive), parent / "data", limits)
    assert caught.value.code == "zip_bomb"
    assert "expands" in caught.value.message
    assert_nothing_left(parent)


def test_an_archive_lying_about_its_total_size_stops_at_the_ratio_bound(tmp_path: Path) -> None:
    # The central directory says 1 KiB per entry; the data is 1 MiB each: stopped while streaming.
    archive = bytearray(make_zip([(f"z{i}.bin", bytes(1 << 20)) for i in range(40)]))
    with zipfile.ZipFile(io.BytesIO(bytes(archive))) as zf:
        infos = zf.infolist()
    for info in infos:  # patch each entry's uncompressed size in the central directory and the local header
        for marker in (b"PK\x01\x02", b"PK\x03\x04"):
            start = 0
            while (at := archive.find(marker, start)) >= 0:
                name_at = at + (46 if marker == b"PK\x01\x02" else 30)
                if archive[name_at : name_at + len(info.filename)] == info.filename.encode():
                    size_at = at + (24 if marker == b"PK\x01\x02" else 22)
                    archive[size_at : size_at + 4] = (1024).to_bytes(4, "little")
                start = at + 4
    parent = tmp_path / "svc"
    parent.mkdir()
    with pytest.raises(ZipRejectedError) as caught:
        extract_zip(io.BytesIO(bytes(archive)), parent / "data", LIMITS)
    assert caught.value.code in ("zip_bomb", "zip_invalid")
    assert_nothing_left(parent)


@contextlib.contextmanager
def tmpfs(mountpoint: Path, options: str) -> Iterator[Path]:
    """A real tmpfs at ``mountpoint`` (mounting needs root)."""
    require(os.geteuid() == 0 and shutil.which("mount") is not None, "root (to mount a small tmpfs)")
    mountpoint.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mountpoint)], check=True)
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", str(mountpoint)], check=True)


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB filesystem."""
    with tmpfs(tmp_path / "tiny", "size=256k") as mountpoint:
        yield mountpoint


def test_a_read_only_disk_is_a_500_that_says_so_and_leaves_nothing(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "ro", "size=256k") as mountpoint:
        (mountpoint / "svc").mkdir()
        subprocess.run(["mount", "-o", "remount,ro", str(mountpoint)], check=True)
        with pytest.raises(AppError) as caught:
            extract_zip(io.BytesIO(make_zip([("index.html", b"x")])), mountpoint / "svc" / "data", LIMITS)
        assert (caught.value.status_code, caught.value.code) == (500, "storage_failed")
        assert "Read-only file system" in caught.value.message
        assert_nothing_left(mountpoint / "svc")


@pytest.mark.parametrize(
    ("number", "status", "code"),
    [
        (errno.ENAMETOOLONG, 422, "zip_name_too_long"),
        (errno.ENOTDIR, 422, "zip_path_conflict"),
        (errno.EISDIR, 422, "zip_path_conflict"),
        (errno.EEXIST, 422, "zip_path_conflict"),
        (errno.ELOOP, 422, "zip_path_conflict"),
        (errno.EILSEQ, 422, "zip_name_invalid"),
        (errno.EFBIG, 413, "zip_too_large"),
        (errno.EMLINK, 422, "zip_too_many_entries"),
        (errno.ENOSPC, 507, "insufficient_storage"),
        (errno.EDQUOT, 507, "insufficient_storage"),
        (errno.EMFILE, 503, "server_busy"),
        (errno.EACCES, 500, "storage_failed"),
        (errno.EROFS, 500, "storage_failed"),
        (errno.EIO, 500, "storage_failed"),
    ],
)
def test_every_os_error_of_the_intake_has_an_honest_status(number: int, status: int, code: str) -> None:
    from cloudfaster.apps.errors import intake_error
    from cloudfaster.apps.zip_intake import _os_error

    mapped = _os_error(OSError(number, os.strerror(number)), "some/entry.txt")
    error = intake_error(mapped) if isinstance(mapped, IntakeError) else mapped
    assert isinstance(error, AppError)
    assert (error.status_code, error.code) == (status, code)
    assert error.message
    if status == 503:
        assert error.headers["Retry-After"]


def test_a_full_disk_is_an_honest_507_and_leaves_nothing(tiny_disk: Path) -> None:
    parent = tiny_disk / "svc"
    parent.mkdir()
    archive = make_zip([(f"part{i}.bin", os.urandom(100_000)) for i in range(4)])
    with pytest.raises(AppError) as caught:
        extract_zip(io.BytesIO(archive), parent / "data", LIMITS)
    assert caught.value.status_code == 507
    assert caught.value.code == "insufficient_storage"
    assert "no space" in caught.value.message
    assert_nothing_left(parent)


async def test_a_name_too_long_for_the_filesystem_is_a_422_over_http(api: Api, tmp_path: Path) -> None:
    me = api.as_key(await api.new_user("mallory"))
    archive = make_zip([("index.html", b"ok"), ("b" * 300 + ".html", b"x")])
    resp = await api.client.post(
        "/service",
        headers=me,
        data={"service_name": "long", "service_types": "static"},
        files={"zip_file": ("site.zip", archive, "application/zip")},
    )
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"]["code"] == "zip_name_too_long"
    assert files_under(tmp_path / "services") == []


def test_an_archive_of_many_files_extracts_every_byte_with_safe_modes_and_owner(tmp_path: Path) -> None:
    # Enough files for the writer threads: every one must land whole, in its folder, with the modes and owner.
    many = ZipLimits(max_zip_bytes=5_000_000, max_unpacked_bytes=20_000_000, max_entries=1000, max_ratio=100)
    entries: list[tuple[str | zipfile.ZipInfo, bytes]] = [
        (f"assets/{i % 7}/{i % 3}/f{i}.bin", os.urandom(100 + i * 37)) for i in range(299)
    ]
    entries.append(("index.html", b"<h1>many</h1>"))  # a second top-level name: no wrapping folder to strip
    target = tmp_path / "data"
    root = os.geteuid() == 0
    result = extract_zip(io.BytesIO(make_zip(entries)), target, many, owner=(1000, 1000) if root else None)
    assert (result.files, result.bytes) == (300, sum(len(data) for _, data in entries))
    for name, data in entries:
        assert (target / str(name)).read_bytes() == data
    paths = [target, *target.rglob("*")]
    assert {stat.S_IMODE(p.stat().st_mode) for p in paths if p.is_dir()} == {0o755}
    assert {stat.S_IMODE(p.stat().st_mode) for p in paths if p.is_file()} == {0o644}
    if root:
        assert {(p.stat().st_uid, p.stat().st_gid) for p in paths} == {(1000, 1000)}


def test_a_corrupt_entry_among_many_is_rejected_and_leaves_nothing(tmp_path: Path) -> None:
    many = ZipLimits(max_zip_bytes=5_000_000, max_unpacked_bytes=20_000_000, max_entries=1000, max_ratio=100)
    archive = make_zip([(f"d{i % 5}/f{i}.txt", bytes([65 + i % 26]) * 2000) for i in range(200)])
    parent = tmp_path / "svc"
    parent.mkdir()
    with pytest.raises(ZipRejectedError) as caught:
        extract_zip(io.BytesIO(corrupt_second_entry(archive)), parent / "data", many)
    assert caught.value.code == "zip_invalid"
    assert_nothing_left(parent)
