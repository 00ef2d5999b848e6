"""A service's environment variables (``GET``/``PUT /service/{id}/env``), the names CloudFaster sets refused; a
change reaches the containers on the next deploy or restart, which rewrite ``.env`` (``apply``).

The service row keeps the names, which are secret, and the plain values; secret values never reach the database:
they live in the service's 0600 ``secrets.env`` (and, once applied, its 0600 ``.env``). Variables given on create
count as secrets, since the create form cannot say which are (``PUT`` one as plain to see it again)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cloudfaster.apps import store
from cloudfaster.apps.builder import RESERVED_ENV
from cloudfaster.apps.envfile import parse_env_file, render_env_file, validate_user_env
from cloudfaster.apps.errors import TemplateError, invalid_request
from cloudfaster.apps.layout import ServiceLayout
from cloudfaster.apps.runtime import AppRuntime
from cloudfaster.apps.status import DELETED, FAILED
from cloudfaster.core.errors import ConflictError, ValidationFailedError
from cloudfaster.core.principal import Principal

MAX_VARIABLES = 200
SECRETS_FILE = "secrets.env"


@dataclass(frozen=True)
class Variable:
    """One variable; ``value`` is None for a secret when read back (and, when written, keeps the stored one)."""

    name: str
    value: str | None
    secret: bool = False


def on_create(env: dict[str, str]) -> dict[str, Any]:
    """The row's variables for those given on create: secrets (their values are only in ``.env``)."""
    return {name: {"value": None, "secret": True} for name in env}


def _shown(row_env: dict[str, Any] | None) -> list[Variable]:
    return [
        Variable(name, None if item.get("secret") else str(item["value"]), bool(item.get("secret")))
        for name, item in sorted((row_env or {}).items())
    ]


async def read(rt: AppRuntime, principal: Principal, service_id: int) -> list[Variable]:
    """A visible service's variables, secret values left out."""
    owned = await store.load_visible(rt.db, principal, service_id)
    return _shown(owned.row.env)


async def replace(rt: AppRuntime, principal: Principal, service_id: int, variables: list[Variable]) -> list[Variable]:
    """Replace a visible service's variables (422 for a bad or reserved name, a duplicate, or a secret without a
    value it did not have before); applied on the next deploy or restart."""
    owned = await store.load_visible(rt.db, principal, service_id)
    if owned.row.status in (DELETED, FAILED):
        raise ConflictError(f"service {service_id} is {owned.row.status}", code="service_state")
    if len(variables) > MAX_VARIABLES:
        raise ValidationFailedError(f"at most {MAX_VARIABLES} variables", code="env_invalid")
    layout = store.layout_of(rt.settings, owned.userid, service_id)
    current = owned.row.env or {}
    kept_secrets = await asyncio.to_thread(_secret_values, layout, current)
    values: dict[str, str] = {}
    secret: set[str] = set()
    for variable in variables:
        if variable.name in values:
            raise ValidationFailedError(f"variable {variable.name} is given twice", code="env_invalid")
        value = variable.value
        if value is None:
            if not variable.secret or variable.name not in kept_secrets:
                raise ValidationFailedError(
                    f"variable {variable.name} needs a value (only a secret one keeps its stored value)",
                    code="env_invalid",
                )
            value = kept_secrets[variable.name]
        values[variable.name] = value
        if variable.secret:
            secret.add(variable.name)
    try:
        checked = validate_user_env(values, RESERVED_ENV)
    except TemplateError as exc:
        raise invalid_request(exc) from exc
    secrets_only = {name: value for name, value in checked.items() if name in secret}
    await asyncio.to_thread(layout.write_files, {SECRETS_FILE: render_env_file(secrets_only)})
    env = {
        name: {"value": None if name in secret else value, "secret": name in secret} for name, value in checked.items()
    }
    async with rt.db.write() as session:
        await store.update_service(session, service_id, env=env)
    return _shown(env)


def _read_env(path: Path) -> dict[str, str]:
    return parse_env_file(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _secret_values(layout: ServiceLayout, row_env: dict[str, Any]) -> dict[str, str]:
    """The values of the row's secret variables: from ``secrets.env``, else (set on create) from ``.env``."""
    stored, applied = _read_env(layout.root / SECRETS_FILE), _read_env(layout.env_file)
    found: dict[str, str] = {}
    for name, item in row_env.items():
        if item.get("secret"):
            value = stored.get(name, applied.get(name))
            if value is not None:
                found[name] = value
    return found


def _user_env(layout: ServiceLayout, row_env: dict[str, Any]) -> dict[str, str]:
    secrets = _secret_values(layout, row_env)
    plain = {name: str(item["value"]) for name, item in row_env.items() if not item.get("secret")}
    return {name: plain.get(name, secrets.get(name, "")) for name in row_env if name in plain or name in secrets}


def _rewrite(layout: ServiceLayout, user_env: dict[str, str]) -> bool:
    path = layout.env_file
    current = parse_env_file(path.read_text(encoding="utf-8")) if path.is_file() else {}
    managed = {name: value for name, value in current.items() if name in RESERVED_ENV}
    wanted = {**managed, **user_env}
    if wanted == current:
        return False
    layout.write_files({".env": render_env_file(wanted)})
    return True


async def apply(rt: AppRuntime, service_id: int, layout: ServiceLayout) -> bool:
    """Rewrite the service's ``.env`` from its variables (CloudFaster's own stay); whether it changed."""
    owned = await rt.owned(service_id)
    if owned.row.env is None:  # a service from before variables were kept: leave its file alone
        return False
    row_env = dict(owned.row.env)
    return await asyncio.to_thread(lambda: _rewrite(layout, _user_env(layout, row_env)))
