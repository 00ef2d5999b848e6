"""A smart-HTTP git server over TLS on 127.0.0.1 for the clone tests: `git http-backend` behind a small threaded
Python server with a trustme certificate, plus a listener that accepts TCP and never answers."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import trustme


def _git(*args: str, cwd: Path | None = None) -> str:
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null"}
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def make_bare_repo(root: Path, files: dict[str, bytes], branches: dict[str, dict[str, bytes]] | None = None) -> Path:
    """A bare repository ``root/site.git`` whose main branch holds ``files`` (and extra branches), served as-is."""
    work = root / "work"
    work.mkdir(parents=True)
    _git("init", "-q", "-b", "main", str(work))
    for name, content in files.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_bytes(content)
    ident = ["-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    _git("add", "-A", cwd=work)
    _git(*ident, "commit", "-q", "-m", "site", cwd=work)
    for branch, extra in (branches or {}).items():
        _git("checkout", "-q", "-b", branch, cwd=work)
        for name, content in extra.items():
            (work / name).write_bytes(content)
        _git("add", "-A", cwd=work)
        _git(*ident, "commit", "-q", "-m", branch, cwd=work)
        _git("checkout", "-q", "main", cwd=work)
    bare = root / "site.git"
    _git("clone", "-q", "--bare", str(work), str(bare))
    return bare


def head_of(bare: Path, ref: str = "main") -> str:
    """The commit ``ref`` points at in a bare repository."""
    return _git("--git-dir", str(bare), "rev-parse", ref)


class _GitHandler(BaseHTTPRequestHandler):
    project_root: Path

    def log_message(self, format: str, *args: object) -> None:
        return

    def _backend(self) -> None:
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(self.project_root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": "/dev/null",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": "127.0.0.1",
        }
        if self.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
        if self.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
        done = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True, check=False)
        head, _, payload = done.stdout.partition(b"\r\n\r\n")
        status = 200
        headers: list[tuple[str, str]] = []
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = _backend
    do_POST = _backend


@contextmanager
def https_git_server(project_root: Path, ca: trustme.CA) -> Iterator[str]:
    """Serve the bare repositories under ``project_root`` at ``https://127.0.0.1:PORT/``; yields that base URL."""
    handler = type("Handler", (_GitHandler,), {"project_root": project_root})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@contextmanager
def silent_listener() -> Iterator[int]:
    """A port on 127.0.0.1 that accepts TCP connections (kernel backlog) and never says anything."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    try:
        yield int(sock.getsockname()[1])
    finally:
        sock.close()
