"""Writing and reading the dotenv files Compose reads (``env_file:`` and the project ``.env``)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from cloudfaster.apps.errors import TemplateError

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
# Compose reads COMPOSE_* (e.g. COMPOSE_FILE) from the project's .env, and DOCKER_* steer the CLI: never user-set.
RESERVED_PREFIXES = ("COMPOSE_", "DOCKER_")
MAX_VALUE_CHARS = 32 * 1024


def validate_user_env(env: Mapping[str, str], reserved: frozenset[str] = frozenset()) -> dict[str, str]:
    """Check user-supplied environment variables: plain names, no reserved names, single-line values."""
    checked: dict[str, str] = {}
    for name, value in env.items():
        if not ENV_NAME.fullmatch(name):
            raise TemplateError(f"environment variable name {name!r} is not valid", code="env_invalid")
        if name.upper().startswith(RESERVED_PREFIXES) or name in reserved:
            raise TemplateError(f"environment variable {name} is reserved", code="env_invalid")
        if not isinstance(value, str) or any(c in value for c in "\n\r\x00"):
            raise TemplateError(f"environment variable {name} must be a single line of text", code="env_invalid")
        if len(value) > MAX_VALUE_CHARS:
            raise TemplateError(f"environment variable {name} is too long", code="env_invalid")
        checked[name] = value
    return checked


def _quote(value: str) -> str:
    # Compose's dotenv parser unescapes \\, \" and \$ inside double quotes and expands $VAR otherwise; escaping
    # all three keeps every value literal (observed with Compose v2.40.3 `config --format json`).
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return f'"{escaped}"'


def render_env_file(env: Mapping[str, str]) -> str:
    """Render variables as a dotenv file whose values Compose reads back literally."""
    lines = ["# Written by CloudFaster."]
    for name, value in env.items():
        if not ENV_NAME.fullmatch(name) or any(c in value for c in "\n\r\x00"):
            raise TemplateError(f"cannot write environment variable {name!r}", code="env_invalid")
        lines.append(f"{name}={_quote(value)}")
    return "\n".join(lines) + "\n"


_LINE = re.compile(r'(?P<name>[A-Za-z_][A-Za-z0-9_]*)="(?P<value>(?:[^"\\]|\\.)*)"')


def parse_env_file(text: str) -> dict[str, str]:
    """Read back a file written by ``render_env_file``."""
    env: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _LINE.fullmatch(line.strip())
        if match is None:
            raise TemplateError(f"unexpected line in env file: {line[:40]!r}", code="env_invalid")
        env[match["name"]] = re.sub(r"\\(.)", r"\1", match["value"])
    return env
