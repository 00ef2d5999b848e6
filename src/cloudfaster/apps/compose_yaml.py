"""Compose files as YAML text: written by the builder, read back by publishing and reconcile."""

from __future__ import annotations

from typing import Any

# PyYAML loads with the first compose file read or written, not at start-up: an idle server does without it.


def dump(compose: dict[str, Any]) -> str:
    """The compose model as the YAML text written to ``docker-compose.yml``."""
    import yaml

    text: str = yaml.safe_dump(compose, sort_keys=False, default_flow_style=False, width=120)
    return text


def load(text: str) -> Any:
    """The model a compose file's text holds; ``ValueError`` when it is not YAML."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"not YAML: {exc}") from exc
