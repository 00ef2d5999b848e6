"""Cloning a user-supplied git URL as hostile input (notes/docker-side.md §5): https only, ``--`` before the URL,
depth 1, no submodules, no hooks, no system/global config, host addresses checked and pinned, a wall-clock timeout
and a size cap; the clone lands in a staging directory and is moved into place only on success."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import re
import shutil
import signal
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from cloudfaster.apps.errors import IntakeError
from cloudfaster.apps.layout import chown_tree
from cloudfaster.apps.staging import (
    check_target_free,
    make_staging_dir,
    move_into_place,
    remove_quietly,
    tree_size,
)

MAX_URL_CHARS = 2048
SIZE_POLL_S = 0.5
_REF = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._/-]{0,199}")
_HOST = re.compile(r"[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]+\]")


class GitRejectedError(IntakeError):
    """The repository URL or ref is refused, or the clone failed; ``code`` says why (``git_*``)."""

    code = "git_clone_failed"


@dataclass(frozen=True)
class GitLimits:
    """How a clone is bounded: size, time, which hosts it may reach, and the CA bundle git trusts (None: the
    system's)."""

    max_repo_bytes: int
    timeout_s: float
    allow_private_hosts: bool = False
    ca_file: Path | None = None


@dataclass(frozen=True)
class CloneResult:
    """The cloned commit and the size of its working tree."""

    commit: str
    bytes: int


def validate_git_url(url: str) -> str:
    """Accept only plain ``https://host[:port]/path`` URLs without credentials; raise ``git_url_invalid``."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_CHARS:
        raise GitRejectedError("the repository URL is empty or too long", code="git_url_invalid")
    if url.startswith("-"):
        raise GitRejectedError("the repository URL must not start with '-'", code="git_url_invalid")
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
        raise GitRejectedError("the repository URL contains spaces or control characters", code="git_url_invalid")
    if not url.startswith("https://"):
        raise GitRejectedError(
            "only https:// repository URLs are accepted (no ssh, git, file, local paths or other transports)",
            code="git_url_invalid",
        )
    parts = urlsplit(url)
    if "@" in parts.netloc:
        raise GitRejectedError(
            "credentials in the repository URL are not accepted; use a public https repository",
            code="git_url_invalid",
        )
    host = parts.netloc.rsplit(":", 1)[0] if parts.port is not None else parts.netloc
    if not parts.hostname or not _HOST.fullmatch(host):
        raise GitRejectedError("the repository URL has no valid host", code="git_url_invalid")
    if parts.fragment or "::" in parts.path:
        raise GitRejectedError("the repository URL has unexpected parts", code="git_url_invalid")
    return url


def validate_git_ref(ref: str | None) -> str | None:
    """Accept a branch or tag name (``--branch``); raise ``git_ref_invalid`` for anything else."""
    if ref is None or ref == "":
        return None
    if not _REF.fullmatch(ref) or ".." in ref or "//" in ref or "@{" in ref or ref.endswith((".lock", "/", ".")):
        raise GitRejectedError(f"{ref[:60]!r} is not a valid branch or tag name", code="git_ref_invalid")
    return ref


async def resolve_pinned_address(url: str, allow_private: bool) -> tuple[str, int, str] | None:
    """Resolve the URL's host; unless ``allow_private``, refuse non-global addresses (SSRF) and return
    ``(host, port, ip)`` to pin with ``http.curloptResolve`` against DNS rebinding."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or 443
    if allow_private:
        return None
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise GitRejectedError(f"cannot resolve {host}", code="git_host_unresolvable") from exc
    addresses = sorted({str(info[4][0]) for info in infos})
    if not addresses:
        raise GitRejectedError(f"cannot resolve {host}", code="git_host_unresolvable")
    for address in addresses:
        if not ipaddress.ip_address(address.split("%")[0]).is_global:
            raise GitRejectedError(
                f"{host} resolves to a non-public address; an admin can allow private git hosts with "
                "CLOUDFASTER_DOCKER__GIT_ALLOW_PRIVATE_HOSTS=true",
                code="git_host_forbidden",
            )
    return host, port, addresses[0]


def git_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A minimal environment: no prompts, no system/global config, https as the only protocol."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": "/nonexistent",
        "LC_ALL": "C",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": "/bin/false",
        "GIT_ALLOW_PROTOCOL": "https",
        "GIT_PROTOCOL_FROM_USER": "0",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_LFS_SKIP_SMUDGE": "1",
    }
    env.update(extra or {})
    return env


def clone_command(
    url: str, destination: Path, ref: str | None, pinned: tuple[str, int, str] | None, git: str = "git"
) -> list[str]:
    """The git argv: every protocol but https off, no submodules/hooks/symlinks, fsck, shallow, ``--`` URL."""
    config = [
        "protocol.allow=never",
        "protocol.https.allow=always",
        "submodule.recurse=false",
        "transfer.fsckObjects=true",
        "core.symlinks=false",
        "core.hooksPath=/dev/null",
        "init.templateDir=",
        "http.followRedirects=false",
        "http.lowSpeedLimit=1000",
        "http.lowSpeedTime=30",
    ]
    if pinned is not None:
        host, port, ip = pinned
        config.append(f"http.curloptResolve={host}:{port}:{f'[{ip}]' if ':' in ip else ip}")
    argv = [git]
    for item in config:
        argv += ["-c", item]
    argv += ["clone", "--depth", "1", "--single-branch", "--no-tags", "--no-recurse-submodules", "--quiet"]
    if ref:
        argv += ["--branch", ref]
    return [*argv, "--", url, str(destination)]


def _kill_group(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


async def _watch_size(root: Path, limit: int, process: asyncio.subprocess.Process) -> bool:
    """Kill the clone when its directory grows past ``limit``; True if it did."""
    while process.returncode is None:
        await asyncio.sleep(SIZE_POLL_S)
        if await asyncio.to_thread(tree_size, root) > limit:
            _kill_group(process)
            return True
    return False


async def _run_clone(argv: list[str], env: dict[str, str], staging: Path, limits: GitLimits) -> None:
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=staging,
        start_new_session=True,
    )
    watcher = asyncio.create_task(_watch_size(staging, limits.max_repo_bytes, process))
    too_large = False
    try:
        _stdout, stderr = await asyncio.wait_for(process.communicate(), limits.timeout_s)
    except TimeoutError as exc:
        _kill_group(process)
        await process.wait()
        raise GitRejectedError(f"the clone did not finish within {limits.timeout_s:g}s", code="git_timeout") from exc
    except BaseException:
        _kill_group(process)
        await process.wait()
        raise
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            too_large = await watcher
    if too_large:
        raise GitRejectedError(f"the repository is larger than {limits.max_repo_bytes} bytes", code="git_too_large")
    if process.returncode != 0:
        message = stderr.decode(errors="replace").strip().splitlines()
        raise GitRejectedError(
            f"git clone failed: {message[-1] if message else 'exit ' + str(process.returncode)}",
            code="git_clone_failed",
        )


async def _head_commit(repo: Path, env: dict[str, str], git: str) -> str:
    process = await asyncio.create_subprocess_exec(
        git, "-C", str(repo), "rev-parse", "HEAD", stdout=asyncio.subprocess.PIPE, env=env
    )
    stdout, _ = await process.communicate()
    return stdout.decode().strip()


def _drop_links_and_git_dir(root: Path) -> None:
    shutil.rmtree(root / ".git", ignore_errors=True)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            if path.is_symlink():  # core.symlinks=false should make none; never leave one behind
                path.unlink()


async def clone_git(
    url: str,
    target: Path,
    limits: GitLimits,
    *,
    ref: str | None = None,
    owner: tuple[int, int] | None = None,
    extra_env: Mapping[str, str] | None = None,
    git: str = "git",
) -> CloneResult:
    """Clone ``url`` (at ``ref``) into ``target`` (absent or empty) without ``.git``; raise ``GitRejectedError``
    leaving nothing behind."""
    validate_git_url(url)
    ref = validate_git_ref(ref)
    check_target_free(target)
    pinned = await resolve_pinned_address(url, limits.allow_private_hosts)
    trust = {"GIT_SSL_CAINFO": str(limits.ca_file)} if limits.ca_file else {}
    env = git_environment({**trust, **(extra_env or {})})
    staging = make_staging_dir(target, "clone")
    try:
        checkout = staging / "repo"
        await _run_clone(clone_command(url, checkout, ref, pinned, git), env, staging, limits)
        commit = await _head_commit(checkout, env, git)
        await asyncio.to_thread(_drop_links_and_git_dir, checkout)
        size = await asyncio.to_thread(tree_size, checkout)
        if size > limits.max_repo_bytes:
            raise GitRejectedError(f"the repository is larger than {limits.max_repo_bytes} bytes", code="git_too_large")
        if owner is not None:
            chown_tree(checkout, *owner)
        move_into_place(checkout, target)
        return CloneResult(commit=commit, bytes=size)
    finally:
        remove_quietly(staging)
