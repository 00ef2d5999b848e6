"""A MariaDB server of the test's own (own data dir, own port on 127.0.0.1) that it may stop and restart freely,
so database outages never touch the shared server other suites use."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.app import free_port

INSTALL_DB = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")
MARIADBD = shutil.which("mariadbd", path="/usr/sbin:/usr/local/sbin:" + os.environ.get("PATH", ""))


def available() -> bool:
    """Whether this machine can run a private MariaDB server."""
    return INSTALL_DB is not None and MARIADBD is not None


class PrivateMariaDB:
    """One mariadbd child process; ``stop``/``start`` simulate an outage and a restart."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._as_root = os.geteuid() == 0

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the ``cloudfaster`` database on this server."""
        return f"mysql+aiomysql://root@127.0.0.1:{self.port}/cloudfaster?charset=utf8mb4"

    def _user_args(self) -> list[str]:
        return ["--user=mysql"] if self._as_root else []

    def install(self) -> None:
        """Create the data directory (system tables)."""
        assert INSTALL_DB is not None
        self.root.mkdir(parents=True, exist_ok=True)
        if self._as_root:
            mysql = pwd.getpwnam("mysql")
            os.chown(self.root, mysql.pw_uid, mysql.pw_gid)
        subprocess.run(
            [INSTALL_DB, "--no-defaults", f"--datadir={self.data}", "--skip-test-db", *self._user_args()],
            check=True,
            capture_output=True,
            timeout=120,
        )

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        assert MARIADBD is not None
        self.process = subprocess.Popen(
            [
                MARIADBD,
                "--no-defaults",
                f"--datadir={self.data}",
                f"--port={self.port}",
                "--bind-address=127.0.0.1",
                f"--socket={self.root / 'mysqld.sock'}",
                f"--pid-file={self.root / 'mysqld.pid'}",
                f"--log-error={self.root / 'error.log'}",
                "--skip-grant-tables",
                "--skip-log-bin",
                "--innodb-buffer-pool-size=64M",
                "--max-connections=500",
                *self._user_args(),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mariadbd exited: {(self.root / 'error.log').read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("private mariadbd did not accept connections in 60 s")

    def create_database(self) -> None:
        """Create the empty ``cloudfaster`` database."""
        subprocess.run(
            [
                "mysql",
                "-h127.0.0.1",
                f"-P{self.port}",
                "-uroot",
                "-e",
                "CREATE DATABASE cloudfaster CHARACTER SET utf8mb4",
            ],
            check=True,
            capture_output=True,
            timeout=30,
        )

    def kill(self) -> None:
        """Stop the server abruptly (SIGKILL), as a crash or a power cut would."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self.process is not None and self.process.poll() is None


@contextmanager
def private_mariadb() -> Iterator[PrivateMariaDB]:
    """A running private server with an empty ``cloudfaster`` database; killed and deleted afterwards.

    Its directory is made under the system temp dir, which the ``mysql`` user can reach (pytest's is private)."""
    root = Path(tempfile.mkdtemp(prefix="cf-mariadb-"))
    server = PrivateMariaDB(root)
    try:
        server.install()
        server.start()
        server.create_database()
        yield server
    finally:
        server.kill()
        shutil.rmtree(root, ignore_errors=True)
