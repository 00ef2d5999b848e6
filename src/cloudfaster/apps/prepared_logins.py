"""Filebrowser logins hashed before the creates that take them: bcrypt at Filebrowser's cost is about 65 ms of CPU,
which a create's request would otherwise spend beside the ZIP's extraction, and longer than it. A few logins are kept
ready in the process (random and never shown until a create hands one out, once); the first create, and any create
that finds none ready, hashes its own."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from cloudfaster.apps.filebrowser import FilebrowserCredentials, generate_credentials

KEEP_READY = 2


@dataclass(frozen=True)
class PreparedLogin:
    """A generated Filebrowser login and its bcrypt hash."""

    credentials: FilebrowserCredentials
    password_hash: str


def prepare_login() -> PreparedLogin:
    """A new random login, hashed (blocks for the hash)."""
    credentials = generate_credentials()
    return PreparedLogin(credentials, credentials.password_hash())


class PreparedLogins:
    """Up to ``keep`` logins hashed ahead by one background thread, each handed out once."""

    def __init__(self, keep: int = KEEP_READY) -> None:
        self._keep = keep
        self._ready: list[PreparedLogin] = []
        self._lock = threading.Lock()
        self._topping_up = False
        self._maker = ThreadPoolExecutor(1, thread_name_prefix="filebrowser-logins")

    @property
    def ready(self) -> int:
        """How many logins are hashed and waiting."""
        with self._lock:
            return len(self._ready)

    async def take(self) -> PreparedLogin:
        """A login nobody else got: a ready one, else one hashed now; then the reserve is topped up."""
        with self._lock:
            login = self._ready.pop() if self._ready else None
        if login is None:
            login = await asyncio.to_thread(prepare_login)
        self._top_up()
        return login

    def _top_up(self) -> None:
        with self._lock:
            if self._topping_up or len(self._ready) >= self._keep:
                return
            self._topping_up = True
        self._maker.submit(self._fill)

    def _fill(self) -> None:
        try:
            while True:
                login = prepare_login()
                with self._lock:
                    self._ready.append(login)
                    if len(self._ready) >= self._keep:
                        return
        finally:
            with self._lock:
                self._topping_up = False


# One reserve per process: a login is random and belongs to no instance until a create takes it.
PREPARED_LOGINS = PreparedLogins()
