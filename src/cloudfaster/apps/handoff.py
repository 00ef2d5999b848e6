"""Secrets a request hands to its operation: a private (0700) staging directory with a 0600 file, referenced by
the operation's ``handoff`` parameter and removed when the operation is done with it. The operation row itself
never holds them."""

from __future__ import annotations

import json
import os
from pathlib import Path

from cloudfaster.apps.intake import new_staging_dir
from cloudfaster.apps.spec import DatabaseCredentials
from cloudfaster.settings import Settings

DB_NAME = DB_USER = "app"  # DatabaseCredentials.generate's defaults
CREDENTIALS_FILE = "credentials.json"


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def hand_off_credentials(settings: Settings, credentials: DatabaseCredentials) -> Path:
    """A private staging directory holding credentials for an operation to pick up (and remove)."""
    path = new_staging_dir(settings)
    body = {"password": credentials.password, "root_password": credentials.root_password}
    _write_private(path / CREDENTIALS_FILE, json.dumps(body).encode())
    return path


def handed_credentials(handoff: Path | None) -> DatabaseCredentials | None:
    """The credentials a request handed to its operation, or None if there are none (any more)."""
    if handoff is None or not (handoff / CREDENTIALS_FILE).is_file():
        return None
    body = json.loads((handoff / CREDENTIALS_FILE).read_text(encoding="utf-8"))
    return DatabaseCredentials(DB_NAME, DB_USER, str(body["password"]), str(body["root_password"]))
