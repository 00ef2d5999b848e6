"""git intake: hostile URLs are refused before git runs; real clones over https from a local server work, time out,
and respect the size cap, leaving nothing behind on failure."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from cloudfaster.apps.config import git_limits
from cloudfaster.apps.git_intake import (
    GitLimits,
    GitRejectedError,
    clone_command,
    clone_git,
    validate_git_ref,
    validate_git_url,
)
from cloudfaster.settings import DockerSettings
from tests.apps.gitserver import head_of, https_git_server, make_bare_repo, silent_listener
from tests.apps.support import listing

HOSTILE_URLS = [
    "--upload-pack=touch /tmp/pwned",
    "-uhttps://example.com/x.git",
    "http://example.com/repo.git",
    "ssh://git@example.com/repo.git",
    "git@example.com:owner/repo.git",
    "git://example.com/repo.git",
    "file:///etc",
    "/srv/other-user/repo",
    "./repo",
    "ext::sh -c touch% /tmp/pwned",
    "https://user:secret@example.com/repo.git",
    "https://token@example.com/repo.git",
    "https:///no-host",
    "https://example.com/a repo.git",
    "https://example.com/repo.git\n--upload-pack=x",
    "HTTPS://example.com/repo.git#frag",
    "",
]


@pytest.mark.parametrize("url", HOSTILE_URLS)
async def test_hostile_url_is_refused_and_leaves_nothing(tmp_path: Path, url: str) -> None:
    with pytest.raises(GitRejectedError) as caught:
        validate_git_url(url)
    assert caught.value.code == "git_url_invalid"

    settings = git_limits(DockerSettings(base_path=tmp_path, git_timeout_s=5))
    parent = tmp_path / "svc"
    parent.mkdir()
    with pytest.raises(GitRejectedError) as caught:
        await clone_git(url, parent / "data", settings)
    assert caught.value.code == "git_url_invalid"
    assert listing(parent) == []


@pytest.mark.parametrize("ref", ["--upload-pack=x", "-b", "a..b", "main.lock", "x@{1}", "a//b", "a b", "ok/"])
def test_hostile_ref_is_refused(ref: str) -> None:
    with pytest.raises(GitRejectedError) as caught:
        validate_git_ref(ref)
    assert caught.value.code == "git_ref_invalid"


def test_valid_refs_pass() -> None:
    assert validate_git_ref("release/v1.2") == "release/v1.2"
    assert validate_git_ref(None) is None


def test_clone_command_is_locked_down(tmp_path: Path) -> None:
    argv = clone_command("https://example.com/r.git", tmp_path / "d", "main", ("example.com", 443, "93.184.215.14"))
    assert argv[-3:] == ["--", "https://example.com/r.git", str(tmp_path / "d")]
    for option in ("--depth", "--no-recurse-submodules", "--single-branch", "--no-tags"):
        assert option in argv
    configs = {argv[i + 1] for i, a in enumerate(argv) if a == "-c"}
    assert {
        "protocol.allow=never",
        "protocol.https.allow=always",
        "core.hooksPath=/dev/null",
        "core.symlinks=false",
        "http.followRedirects=false",
        "http.curloptResolve=example.com:443:93.184.215.14",
    } <= configs


@pytest.mark.parametrize("url", ["https://127.0.0.1/x.git", "https://localhost/x.git", "https://169.254.169.254/x"])
async def test_private_hosts_are_refused_by_default(tmp_path: Path, url: str) -> None:
    settings = git_limits(DockerSettings(base_path=tmp_path, git_allow_private_hosts=False))
    with pytest.raises(GitRejectedError) as caught:
        await clone_git(url, tmp_path / "data", settings)
    assert caught.value.code == "git_host_forbidden"
    assert listing(tmp_path) == []


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture(scope="module")
def git_server(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """https://127.0.0.1:PORT serving site.git (main: index.html; branch 'feature': + feature.html)."""
    root = tmp_path_factory.mktemp("git")
    bare = make_bare_repo(
        root,
        {"index.html": b"<h1>from git</h1>\n", "assets/app.js": b"console.log(1)\n", "big.bin": bytes(range(256)) * 40},
        branches={"feature": {"feature.html": b"feature\n"}},
    )
    with https_git_server(root, ca) as base:
        yield f"{base}/site.git", bare


@pytest.fixture
def git_settings(tmp_path: Path) -> GitLimits:
    return git_limits(DockerSettings(base_path=tmp_path, git_allow_private_hosts=True, git_timeout_s=30))


async def test_clone_over_https_gives_files_without_git_dir(
    tmp_path: Path, git_server: tuple[str, Path], ca_file: Path, git_settings: GitLimits
) -> None:
    url, bare = git_server
    target = tmp_path / "svc" / "data"

    result = await clone_git(url, target, git_settings, extra_env={"GIT_SSL_CAINFO": str(ca_file)})

    assert (target / "index.html").read_bytes() == b"<h1>from git</h1>\n"
    assert (target / "assets" / "app.js").exists()
    assert not (target / ".git").exists()
    assert not (target / "feature.html").exists()
    assert result.commit == head_of(bare)
    assert sorted(p.name for p in target.parent.iterdir()) == ["data"]


async def test_clone_of_a_branch(
    tmp_path: Path, git_server: tuple[str, Path], ca_file: Path, git_settings: GitLimits
) -> None:
    url, bare = git_server
    result = await clone_git(
        url, tmp_path / "data", git_settings, ref="feature", extra_env={"GIT_SSL_CAINFO": str(ca_file)}
    )
    assert (tmp_path / "data" / "feature.html").read_bytes() == b"feature\n"
    assert result.commit == head_of(bare, "feature")


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("missing-branch", "git_clone_failed"),
        ("untrusted-cert", "git_clone_failed"),
        ("missing-repo", "git_clone_failed"),
        ("too-large", "git_too_large"),
    ],
)
async def test_failed_clones_leave_nothing(
    tmp_path: Path, git_server: tuple[str, Path], ca_file: Path, git_settings: GitLimits, case: str, code: str
) -> None:
    url, _ = git_server
    env = {"GIT_SSL_CAINFO": str(ca_file)}
    ref = None
    settings = git_settings
    if case == "missing-branch":
        ref = "no-such-branch"
    elif case == "untrusted-cert":
        env = {}
    elif case == "missing-repo":
        url = url.replace("site.git", "nope.git")
    else:
        settings = dataclasses.replace(git_settings, max_repo_bytes=5_000)
    parent = tmp_path / "svc"
    parent.mkdir()

    with pytest.raises(GitRejectedError) as caught:
        await clone_git(url, parent / "data", settings, ref=ref, extra_env=env)

    assert caught.value.code == code
    assert listing(parent) == []


async def test_a_server_that_never_answers_times_out(tmp_path: Path) -> None:
    settings = git_limits(DockerSettings(base_path=tmp_path, git_allow_private_hosts=True, git_timeout_s=2))
    parent = tmp_path / "svc"
    parent.mkdir()
    with silent_listener() as port:
        started = time.monotonic()
        with pytest.raises(GitRejectedError) as caught:
            await clone_git(f"https://127.0.0.1:{port}/repo.git", parent / "data", settings)
        elapsed = time.monotonic() - started

    assert caught.value.code == "git_timeout"
    assert 1.5 < elapsed < 10
    assert listing(parent) == []
