"""Starting a child process cheaply from a large server process.

uvloop (the server's event loop) starts children with fork(), whose cost grows with the parent's memory: about
20 ms for a 100 MB server on a 2-core VM, with the event loop blocked meanwhile. ``subprocess.Popen`` uses vfork()
or posix_spawn(), about 1 ms whatever the size; the child's exit is then watched through a pidfd (Linux 5.3+) on the
running loop. Where pidfds are missing, ``asyncio.create_subprocess_exec`` is used as before."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Protocol

PIPE = subprocess.PIPE
STDOUT = subprocess.STDOUT
DEVNULL = subprocess.DEVNULL
STREAM_LIMIT = 2**16  # asyncio's default line limit for a child's output


class Child(Protocol):
    """What callers use of a running child (the part ``asyncio.subprocess.Process`` has too)."""

    @property
    def pid(self) -> int:
        """The child's process id (its process group's with ``start_new_session``)."""

    @property
    def returncode(self) -> int | None:
        """The exit status, None while it runs."""

    @property
    def stdout(self) -> asyncio.StreamReader | None:
        """Its output, when piped."""

    async def wait(self) -> int:
        """Wait for it to exit; its exit status."""

    async def communicate(self) -> tuple[bytes | None, bytes | None]:
        """Read its piped output to the end and wait for it to exit."""


class PidfdChild:
    """A child started by ``subprocess.Popen``, its exit seen through a pidfd, its pipes read as streams."""

    def __init__(
        self,
        popen: subprocess.Popen[bytes],
        exited: asyncio.Future[int],
        stdout: asyncio.StreamReader | None,
        stderr: asyncio.StreamReader | None,
    ) -> None:
        self._popen = popen
        self._exited = exited
        self._stdout = stdout
        self._stderr = stderr

    @property
    def pid(self) -> int:
        """The child's process id."""
        return self._popen.pid

    @property
    def returncode(self) -> int | None:
        """The exit status once it has been collected, else None."""
        return self._exited.result() if self._exited.done() else None

    @property
    def stdout(self) -> asyncio.StreamReader | None:
        """Its output, when piped."""
        return self._stdout

    async def wait(self) -> int:
        """Wait for it to exit (a cancelled wait leaves the watch in place); its exit status."""
        return await asyncio.shield(self._exited)

    async def communicate(self) -> tuple[bytes | None, bytes | None]:
        """Read its piped output to the end and wait for it to exit."""
        out, err = await asyncio.gather(_read_all(self._stdout), _read_all(self._stderr))
        await self.wait()
        return out, err


async def _read_all(stream: asyncio.StreamReader | None) -> bytes | None:
    return None if stream is None else await stream.read()


def pidfds_available() -> bool:
    """Whether this system can watch a child through a pidfd."""
    if not hasattr(os, "pidfd_open"):
        return False
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError:
        return False
    return True


_PIDFDS = pidfds_available()


class _PipeProtocol(asyncio.StreamReaderProtocol):
    def eof_received(self) -> bool:
        super().eof_received()
        return False  # nothing more can come: close the pipe (uvloop keeps it open when this says True)


async def _stream(loop: asyncio.AbstractEventLoop, pipe: IO[bytes] | None) -> asyncio.StreamReader | None:
    if pipe is None:
        return None
    reader = asyncio.StreamReader(limit=STREAM_LIMIT, loop=loop)
    await loop.connect_read_pipe(lambda: _PipeProtocol(reader, loop=loop), pipe)
    return reader


def _watch_exit(loop: asyncio.AbstractEventLoop, popen: subprocess.Popen[bytes]) -> asyncio.Future[int]:
    exited: asyncio.Future[int] = loop.create_future()
    pidfd = os.pidfd_open(popen.pid)

    def collect() -> None:  # the pidfd is readable once the child has exited: waiting does not block
        loop.remove_reader(pidfd)
        os.close(pidfd)
        exited.set_result(popen.wait())

    loop.add_reader(pidfd, collect)
    return exited


async def spawn(
    argv: Sequence[str],
    *,
    stdin: IO[bytes] | int,
    stdout: IO[bytes] | int,
    stderr: int,
    env: Mapping[str, str],
    cwd: Path | None,
) -> Child:
    """Start ``argv`` in a new session (its own process group); raises OSError when it cannot be started."""
    if not _PIDFDS:
        return await asyncio.create_subprocess_exec(
            *argv, stdin=stdin, stdout=stdout, stderr=stderr, env=env, cwd=cwd, start_new_session=True
        )
    loop = asyncio.get_running_loop()
    # vfork: blocks the loop for about a millisecond, against uvloop's fork for tens of them
    popen = subprocess.Popen(  # noqa: S603, ASYNC220 - an argv list, no shell
        list(argv), stdin=stdin, stdout=stdout, stderr=stderr, env=dict(env), cwd=cwd, start_new_session=True
    )
    try:
        exited = _watch_exit(loop, popen)
        out = await _stream(loop, popen.stdout)
        err = await _stream(loop, popen.stderr)
    except BaseException:
        popen.kill()
        popen.wait()
        raise
    return PidfdChild(popen, exited, out, err)
