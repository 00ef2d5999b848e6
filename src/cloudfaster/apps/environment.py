"""A service's environment variables (``GET``/``PUT /service/{id}/env``): kept on the service row, secret values
write-only, the names CloudFaster sets refused; a change reaches the containers on the next deploy or restart,
which rewrite ``.env`` from the row (``apply``)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from cloudfaster.apps import store
from cloudfaster.apps.builder import RESERVED_ENV
from cloudfaster.apps.envfile import parse_env_file, render_env_file, validate_user_env
from cloudfaster.apps.errors import TemplateError, invalid_request
from cloudfaster.apps.layout import ServiceLayout
from cloudfaster.apps.runtime import AppRuntime
from cloudfaster.apps.status import DELETED
from cloudfaster.core.errors import ConflictError, ValidationFailedError
from cloudfaster.core.principal import Principal

MAX_VARIABLES = 200


@dataclass(frozen=True)
class Variable:
    """One variable; ``value`` is None for a secret when read back (and, when written, keeps the stored one)."""

    name: str
    value: str | None
    secret: bool = False


def stored(env: dict[str, str], secret: bool = False) -> dict[str, Any]:
    """Variables as the service row keeps them."""
    return {name: {"value": value, "secret": secret} for name, value in env.items()}


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
    if owned.row.status == DELETED:
        raise ConflictError(f"service {service_id} is deleted", code="service_state")
    if len(variables) > MAX_VARIABLES:
        raise ValidationFailedError(f"at most {MAX_VARIABLES} variables", code="env_invalid")
    current = owned.row.env or {}
    values: dict[str, str] = {}
    secret: set[str] = set()
    for variable in variables:
        if variable.name in values:
            raise ValidationFailedError(f"variable {variable.name} is given twice", code="env_invalid")
        value = variable.value
        if value is None:
            kept = current.get(variable.name)
            if not variable.secret or kept is None or not kept.get("secret"):
                raise ValidationFailedError(
                    f"variable {variable.name} needs a value (only a secret one keeps its stored value)",
                    code="env_invalid",
                )
            value = str(kept["value"])
        values[variable.name] = value
        if variable.secret:
            secret.add(variable.name)
    try:
        checked = validate_user_env(values, RESERVED_ENV)
    except TemplateError as exc:
        raise invalid_request(exc) from exc
    env = {name: {"value": value, "secret": name in secret} for name, value in checked.items()}
    async with rt.db.write() as session:
        await store.update_service(session, service_id, env=env)
    return _shown(env)


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
    """Rewrite the service's ``.env`` from its row (CloudFaster's own variables stay); whether it changed."""
    owned = await rt.owned(service_id)
    if owned.row.env is None:  # a service from before variables were kept on the row: leave its file alone
        return False
    user_env = {name: str(item["value"]) for name, item in owned.row.env.items()}
    return await asyncio.to_thread(_rewrite, layout, user_env)
