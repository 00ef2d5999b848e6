"""Validation of rendered compose files against the Compose Specification schema (draft-07)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from cloudfaster.apps.errors import SchemaError

if TYPE_CHECKING:
    from jsonschema import Draft7Validator


@cache
def compose_schema_validator() -> Draft7Validator:
    """The validator for compose-spec.json; the file says draft-07 without a ``#``, so name the draft explicitly."""
    from jsonschema import Draft7Validator  # with the first render: an idle server does without it (2 MB)

    text = resources.files("cloudfaster.apps").joinpath("compose-spec.json").read_text(encoding="utf-8")
    schema = json.loads(text)
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema)


def schema_errors(compose: dict[str, Any]) -> list[str]:
    """Every schema violation of ``compose`` as ``path: message`` lines (empty when valid)."""
    errors = sorted(compose_schema_validator().iter_errors(compose), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}" for e in errors]


def validate_compose_schema(compose: dict[str, Any]) -> None:
    """Raise ``SchemaError`` unless ``compose`` validates against the Compose Specification schema."""
    errors = schema_errors(compose)
    if errors:
        raise SchemaError(f"rendered compose file violates the compose schema: {errors[0]}", errors)
