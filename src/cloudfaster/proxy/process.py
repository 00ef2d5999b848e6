"""A local Caddy process with only its admin API configured (the sandbox's proxy, and the tests'): its data and
config under one directory, never the user's home or the system trust store."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

START_TIMEOUT_S = 10.0


def caddy_binary() -> str | None:
    """The ``caddy`` on PATH, or None when it is not installed."""
    return shutil.which("caddy")


class CaddyProcess:
    """``caddy run`` with an admin API on ``admin_listen`` and nothing else: CloudFaster loads the rest."""

    def __init__(self, home: Path, admin_listen: str, *, binary: str | None = None) -> None:
        self.home = home
        self.admin_listen = admin_listen
        self.binary = binary or caddy_binary() or "caddy"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def admin_url(self) -> str:
        """The admin API's URL."""
        return f"http://{self.admin_listen}"

    @property
    def root_ca(self) -> Path:
        """The internal CA's root certificate (there once Caddy has issued its first certificate)."""
        return self.home / "data" / "caddy" / "pki" / "authorities" / "local" / "root.crt"

    @property
    def pid(self) -> int | None:
        """The process id while it runs."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def start(self) -> None:
        """Start Caddy and wait until its admin API answers (blocking: run it in a thread from async code)."""
        self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        bootstrap = self.home / "admin.json"
        bootstrap.write_text(json.dumps({"admin": {"listen": self.admin_listen, "config": {"persist": False}}}))
        env = {
            **os.environ,
            "XDG_DATA_HOME": str(self.home / "data"),
            "XDG_CONFIG_HOME": str(self.home / "config"),
            "HOME": str(self.home),
        }
        log = (self.home / "caddy.log").open("ab")
        self._proc = subprocess.Popen(  # noqa: S603 (a fixed argv, no shell)
            [self.binary, "run", "--config", str(bootstrap)],
            stdout=log,
            stderr=log,
            env=env,
            start_new_session=True,
        )
        log.close()
        import httpx  # only where CloudFaster runs Caddy itself

        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"caddy exited with {self._proc.returncode}; see {self.home / 'caddy.log'}")
            try:
                httpx.get(f"{self.admin_url}/config/", timeout=1, trust_env=False)
                return
            except httpx.TransportError:
                time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"caddy's admin API did not answer within {START_TIMEOUT_S:g}s")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` (SIGKILL by default) and wait for the process to end."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def stop(self) -> None:
        """Stop Caddy gracefully (SIGTERM)."""
        self.kill(signal.SIGTERM)
