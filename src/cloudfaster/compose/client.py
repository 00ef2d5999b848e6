"""An asyncio client for the `docker compose` v2 CLI (one subprocess per call, argv lists only, no shell)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import signal
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from cloudfaster.compose.errors import ComposeCommandError, ComposeTimeoutError, ComposeUnavailableError
from cloudfaster.compose.protocol import ComposeProject, ContainerStatus, PublishedPort
from cloudfaster.compose.spawn import DEVNULL, PIPE, STDOUT, Child, spawn

OUTPUT_LIMIT = 64 * 1024  # keep the tail of long compose output in errors


@dataclass(frozen=True)
class CommandResult:
    """Exit status and output of one `docker compose` run."""

    returncode: int
    stdout: str
    stderr: str


def _tail(text: str) -> str:
    return text if len(text) <= OUTPUT_LIMIT else "…" + text[-OUTPUT_LIMIT:]


def _kill_group(process: Child) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def parse_ps_output(text: str) -> list[ContainerStatus]:
    """Parse `docker compose ps --format json`: one object per line (v2.21+) or a JSON array (older v2)."""
    text = text.strip()
    if not text:
        return []
    rows: list[dict[str, Any]]
    if text.startswith("["):
        rows = json.loads(text)
    else:
        rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    result = []
    for row in rows:
        publishers = tuple(
            PublishedPort(
                url=str(p.get("URL", "")),
                target_port=int(p.get("TargetPort", 0)),
                published_port=int(p.get("PublishedPort", 0)),
                protocol=str(p.get("Protocol", "tcp")),
            )
            for p in row.get("Publishers") or []
            if p.get("PublishedPort")
        )
        result.append(
            ContainerStatus(
                name=str(row.get("Name", "")),
                service=str(row.get("Service", "")),
                state=str(row.get("State", "")),
                health=str(row.get("Health", "")),
                exit_code=int(row.get("ExitCode", 0)),
                publishers=publishers,
            )
        )
    return sorted(result, key=lambda c: (c.service, c.name))


class ComposeClient:
    """Runs `docker compose -p PROJECT -f FILE ...` with the given command and Docker host.

    ``command`` is the compose command line (``docker compose``, or ``docker-compose``); ``docker_host`` is passed
    as ``DOCKER_HOST`` when set; ``up_timeout_s`` bounds `up --wait`, ``default_timeout_s`` every other call.
    """

    def __init__(
        self,
        command: Sequence[str] = ("docker", "compose"),
        *,
        docker_host: str | None = None,
        up_timeout_s: float = 180.0,
        default_timeout_s: float = 120.0,
    ) -> None:
        self.command = list(command)
        self.docker_host = docker_host
        self.up_timeout_s = up_timeout_s
        self.default_timeout_s = default_timeout_s

    def argv(self, project: ComposeProject, *args: str, with_file: bool = True) -> list[str]:
        """The full command line for ``args`` on ``project``."""
        command = [*self.command, "-p", project.name]
        if with_file:
            command += ["-f", str(project.compose_file)]
        return command + list(args)

    def environment(self) -> dict[str, str]:
        """The subprocess environment: ours, plus DOCKER_HOST when configured."""
        env = dict(os.environ)
        if self.docker_host:
            env["DOCKER_HOST"] = self.docker_host
        return env

    async def _spawn(
        self,
        argv: Sequence[str],
        *,
        cwd: Path | None = None,
        merge_stderr: bool = False,
        stdin: IO[bytes] | None = None,
        stdout: IO[bytes] | None = None,
    ) -> Child:
        try:
            return await spawn(
                argv,
                stdin=stdin if stdin is not None else DEVNULL,
                stdout=stdout if stdout is not None else PIPE,
                stderr=STDOUT if merge_stderr else PIPE,
                env=self.environment(),
                cwd=cwd,
            )
        except OSError as exc:
            raise ComposeUnavailableError(f"cannot run {argv[0]}: {exc.strerror}", output=str(exc)) from exc

    async def _execute(
        self,
        argv: Sequence[str],
        what: str,
        timeout_s: float,
        cwd: Path | None,
        *,
        stdin: IO[bytes] | None = None,
        stdout_to: IO[bytes] | None = None,
    ) -> CommandResult:
        """Run ``argv``; raise ``ComposeCommandError`` on a non-zero exit, ``ComposeTimeoutError`` (after killing
        its process group) when it overruns."""
        process = await self._spawn(argv, cwd=cwd, stdin=stdin, stdout=stdout_to)
        try:
            out, err = await asyncio.wait_for(process.communicate(), timeout_s)
            stdout, stderr = out or b"", err or b""
        except TimeoutError as exc:
            _kill_group(process)
            await process.wait()
            raise ComposeTimeoutError(f"docker compose {what} took longer than {timeout_s:g}s") from exc
        except asyncio.CancelledError:
            _kill_group(process)
            await process.wait()
            raise
        result = CommandResult(
            process.returncode or 0, stdout.decode(errors="replace"), stderr.decode(errors="replace")
        )
        if result.returncode != 0:
            output = _tail((result.stderr + "\n" + result.stdout).strip())
            last = output.strip().splitlines()[-1] if output.strip() else "no output"
            raise ComposeCommandError(
                f"docker compose {what} failed: {last}", output=output, returncode=result.returncode
            )
        return result

    async def run(
        self, project: ComposeProject, *args: str, timeout_s: float | None = None, with_file: bool = True
    ) -> CommandResult:
        """Run one compose command on ``project``; raise ``ComposeCommandError`` on a non-zero exit,
        ``ComposeTimeoutError`` (after killing its process group) when it overruns."""
        argv = self.argv(project, *args, with_file=with_file)
        cwd = project.compose_file.parent if project.compose_file.parent.is_dir() else None
        timeout = timeout_s if timeout_s is not None else self.default_timeout_s
        return await self._execute(argv, f"{args[0] if args else ''} on {project.name}", timeout, cwd)

    async def ping(self, timeout_s: float = 4.0) -> None:
        """`ls --quiet`: returns when `docker compose` reaches the Docker Engine, else raises a ``ComposeError``."""
        await self._execute([*self.command, "ls", "--quiet"], "ls", timeout_s, None)

    async def version(self, timeout_s: float = 10.0) -> str:
        """`version --short`: the Compose version, e.g. ``2.40.3``."""
        result = await self._execute([*self.command, "version", "--short"], "version", timeout_s, None)
        return result.stdout.strip().removeprefix("v")

    async def engine_version(self, timeout_s: float = 10.0) -> str:
        """The Docker Engine's version, through the docker CLI the compose command belongs to."""
        docker = self.command[0] if self.command[0] == "docker" else "docker"
        argv = [docker, "version", "--format", "{{.Server.Version}}"]
        return (await self._execute(argv, "version", timeout_s, None)).stdout.strip()

    async def config(self, project: ComposeProject) -> dict[str, Any]:
        """`config --format json`: the normalised model, or ``ComposeCommandError`` if Compose rejects the file."""
        result = await self.run(project, "config", "--format", "json")
        parsed: dict[str, Any] = json.loads(result.stdout)
        return parsed

    async def up(self, project: ComposeProject, timeout_s: float | None = None, *, recreate: bool = False) -> str:
        """`up -d --wait --wait-timeout N --remove-orphans [--force-recreate]`: returns compose's output once
        everything is running and healthy; ``recreate`` replaces containers whose configuration did not change (new
        bind-mount content)."""
        wait = timeout_s if timeout_s is not None else self.up_timeout_s
        args = ["up", "--detach", "--wait", "--wait-timeout", str(max(1, math.ceil(wait))), "--remove-orphans"]
        if recreate:
            args.append("--force-recreate")
        result = await self.run(project, *args, "--quiet-pull", timeout_s=wait + 60)
        return _tail((result.stderr + result.stdout).strip())

    async def exec(
        self,
        project: ComposeProject,
        service: str,
        command: Sequence[str],
        *,
        stdin: Path | None = None,
        stdout: Path | None = None,
        timeout_s: float | None = None,
    ) -> str:
        """`exec -T SERVICE COMMAND...` with stdin read from a file and stdout written to one (else captured); the
        output it printed (stderr, and stdout when not written to a file)."""
        argv = self.argv(project, "exec", "-T", service, *command)
        timeout = timeout_s if timeout_s is not None else self.default_timeout_s
        cwd = project.compose_file.parent if project.compose_file.parent.is_dir() else None
        with contextlib.ExitStack() as files:
            source = files.enter_context(stdin.open("rb")) if stdin is not None else None
            sink = files.enter_context(stdout.open("wb")) if stdout is not None else None
            result = await self._execute(
                argv, f"exec {service} on {project.name}", timeout, cwd, stdin=source, stdout_to=sink
            )
        return _tail((result.stderr + result.stdout).strip())

    async def down(self, project: ComposeProject) -> None:
        """`down --volumes --remove-orphans`; works from the project name alone if the file is gone."""
        await self.run(
            project,
            "down",
            "--volumes",
            "--remove-orphans",
            with_file=project.compose_file.is_file(),
        )

    async def start(self, project: ComposeProject, services: Sequence[str] = ()) -> None:
        """`start [SERVICE...]`."""
        await self.run(project, "start", *services)

    async def stop(self, project: ComposeProject, services: Sequence[str] = ()) -> None:
        """`stop [SERVICE...]`."""
        await self.run(project, "stop", *services)

    async def restart(self, project: ComposeProject, services: Sequence[str] = ()) -> None:
        """`restart [SERVICE...]`."""
        await self.run(project, "restart", *services)

    async def ps(self, project: ComposeProject) -> list[ContainerStatus]:
        """`ps --all --format json`, parsed."""
        result = await self.run(project, "ps", "--all", "--format", "json", with_file=project.compose_file.is_file())
        return parse_ps_output(result.stdout)

    async def logs(
        self, project: ComposeProject, *, follow: bool = False, tail: int | None = None, services: Sequence[str] = ()
    ) -> AsyncIterator[str]:
        """`logs --no-color [--follow] [--tail N]` line by line; closing the iterator stops the process."""
        args = ["logs", "--no-color"]
        if follow:
            args.append("--follow")
        if tail is not None:
            args += ["--tail", str(int(tail))]
        argv = self.argv(project, *args, *services, with_file=project.compose_file.is_file())
        process = await self._spawn(argv, merge_stderr=True)
        if process.stdout is None:  # cannot happen with stdout=PIPE; keeps the type checker honest
            raise ComposeUnavailableError("docker compose logs: no output pipe")
        try:
            async for raw in process.stdout:
                yield raw.decode(errors="replace").rstrip("\n")
            returncode = await process.wait()
            if returncode != 0:
                raise ComposeCommandError(f"docker compose logs on {project.name} failed", returncode=returncode)
        finally:
            if process.returncode is None:
                _kill_group(process)
                await process.wait()
