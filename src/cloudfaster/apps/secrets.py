"""Secrets a ``service.create`` needs (the Filebrowser password hash, the user's environment values, the database
credentials), kept out of the operation's parameters: a 0600 JSON file in a 0700 folder beside the staged uploads,
which the parameters name.
It survives a crash (the resumed operation reads it again) and is removed when the operation ends."""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

from pydantic import BaseModel, ValidationError

from cloudfaster.core.runner.kinds import OperationFailedError
from cloudfaster.settings import Settings

SECRETS_DIR = ".secrets"
_REF = re.compile(r"[0-9a-f]{32}")


class CreateSecrets(BaseModel):
    """What a service create must not keep in its database row."""

    filebrowser_hash: str
    env: dict[str, str]
    # The database credentials whose password the create answer showed (None: the service has no database).
    database_password: str | None = None
    database_root_password: str | None = None


def secrets_root(settings: Settings) -> Path:
    """Where operation secrets live (the services' filesystem, which every worker shares)."""
    return settings.services_path.resolve() / SECRETS_DIR


def _path(settings: Settings, ref: str) -> Path:
    if not _REF.fullmatch(ref):
        raise OperationFailedError("the operation names no valid secrets file", code="secrets_missing")
    return secrets_root(settings) / ref


def store_secrets(settings: Settings, values: CreateSecrets) -> str:
    """Write ``values`` to a new private file; the reference to put in the operation's parameters."""
    root = secrets_root(settings)
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    ref = secrets.token_hex(16)
    fd = os.open(root / ref, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(values.model_dump_json())
        handle.flush()
        os.fsync(handle.fileno())
    return ref


def load_secrets(settings: Settings, ref: str) -> CreateSecrets:
    """The secrets behind ``ref``; a failed operation when they are gone."""
    try:
        return CreateSecrets.model_validate_json(_path(settings, ref).read_bytes())
    except (FileNotFoundError, ValidationError) as exc:
        raise OperationFailedError(
            "the operation's secrets are gone; create the service again", code="secrets_missing"
        ) from exc


def drop_secrets(settings: Settings, ref: str | None) -> None:
    """Remove the secrets behind ``ref`` (nothing if already gone)."""
    if ref is not None and _REF.fullmatch(ref):
        (secrets_root(settings) / ref).unlink(missing_ok=True)
