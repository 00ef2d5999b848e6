"""ZIP intake: hostile archives are rejected with their code and leave nothing on disk."""

from __future__ import annotations

import io
import stat
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from cloudfaster.apps.errors import IntakeError
from cloudfaster.apps.zip_intake import ZipLimits, ZipRejectedError, extract_zip

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
    import os

    if os.geteuid() != 0:
        pytest.skip("chown needs root")
    target = tmp_path / "data"
    extract_zip(io.BytesIO(make_zip([("d/index.html", b"x"), ("e.txt", b"y")])), target, LIMITS, owner=(1000, 1000))
    owners = {(p.stat().st_uid, p.stat().st_gid) for p in [target, *target.rglob("*")]}
    assert owners == {(1000, 1000)}
