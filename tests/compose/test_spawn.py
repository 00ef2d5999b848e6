"""Children started by ``compose.spawn`` on both event loops the project runs on (asyncio in tests and workers,
uvloop under uvicorn): exit statuses, piped and file-bound output, a killed process group, no descriptor left."""

from __future__ import annotations

import asyncio
import os
import signal
import tempfile
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
import uvloop

from cloudfaster.compose.spawn import DEVNULL, PIPE, STDOUT, Child, pidfds_available, spawn

LOOPS: dict[str, Callable[[Coroutine[Any, Any, Any]], Any]] = {"asyncio": asyncio.run, "uvloop": uvloop.run}


async def _sh(script: str, *, stderr: int = PIPE, **kwargs: Any) -> Child:
    options: dict[str, Any] = {"stdin": DEVNULL, "stdout": PIPE, "env": os.environ, "cwd": None} | kwargs
    return await spawn(["sh", "-c", script], stderr=stderr, **options)


def _open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture(params=list(LOOPS))
def run(request: pytest.FixtureRequest) -> Callable[[Coroutine[Any, Any, Any]], Any]:
    """Runs a coroutine to its end on a new loop of each kind."""
    return LOOPS[request.param]


def test_pidfds_are_used_on_this_machine() -> None:
    assert pidfds_available()  # Linux 5.3+: else the plain asyncio path runs and the tests below prove less


def test_exit_status_and_output(run: Callable[[Coroutine[Any, Any, Any]], Any]) -> None:
    async def main() -> tuple[bytes | None, bytes | None, int | None]:
        child = await _sh("echo out; echo err >&2; exit 3")
        out, err = await child.communicate()
        return out, err, child.returncode

    assert run(main()) == (b"out\n", b"err\n", 3)


def test_merged_output_line_by_line(run: Callable[[Coroutine[Any, Any, Any]], Any]) -> None:
    async def main() -> tuple[list[bytes], int]:
        child = await _sh("echo one; echo two >&2; echo three", stderr=STDOUT)
        assert child.stdout is not None
        lines = [line async for line in child.stdout]
        return lines, await child.wait()

    assert run(main()) == ([b"one\n", b"two\n", b"three\n"], 0)


def test_stdin_and_stdout_files(run: Callable[[Coroutine[Any, Any, Any]], Any]) -> None:
    with tempfile.TemporaryFile() as source, tempfile.TemporaryFile() as sink:
        source.write(b"hello")
        source.seek(0)

        async def main() -> tuple[bytes | None, bytes | None]:
            return await (
                await spawn(["cat"], stdin=source, stdout=sink, stderr=PIPE, env=os.environ, cwd=None)
            ).communicate()

        assert run(main()) == (None, b"")
        sink.seek(0)
        assert sink.read() == b"hello"


def test_a_killed_process_group_reports_the_signal(run: Callable[[Coroutine[Any, Any, Any]], Any]) -> None:
    async def main() -> int:
        child = await _sh("sleep 30 & sleep 30")
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(child.communicate(), 0.2)
        os.killpg(child.pid, signal.SIGKILL)  # a new session: the child leads its own group
        return await child.wait()

    assert run(main()) == -signal.SIGKILL


def test_no_descriptor_is_left_per_child(run: Callable[[Coroutine[Any, Any, Any]], Any]) -> None:
    async def main() -> int:
        for _ in range(3):
            await (await _sh("true")).communicate()
        before = _open_descriptors()
        for _ in range(50):
            await (await _sh("echo x; echo y >&2")).communicate()
        await asyncio.sleep(0.05)
        return _open_descriptors() - before

    assert run(main()) < 5  # three a child (two pipes, a pidfd) would be 150


def test_a_missing_program_is_an_os_error(run: Callable[[Coroutine[Any, Any, Any]], Any]) -> None:
    async def main() -> None:
        await spawn(["/nonexistent/compose"], stdin=DEVNULL, stdout=PIPE, stderr=PIPE, env=os.environ, cwd=None)

    with pytest.raises(FileNotFoundError):
        run(main())
