"""Contexts (a server URL and an API key each) in a config file at mode 0600; ``CF_API_KEY``/``CF_URL`` win."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs


@dataclass(frozen=True)
class Context:
    """Where to connect and as whom."""

    name: str
    url: str
    key: str


def config_path() -> Path:
    """The config file, under the user's config directory (``CF_CONFIG`` overrides)."""
    override = os.environ.get("CF_CONFIG")
    return Path(override) if override else Path(platformdirs.user_config_dir("cloudfaster")) / "cli.json"


def load() -> dict[str, Any]:
    """The config file's content, or an empty config."""
    try:
        data: dict[str, Any] = json.loads(config_path().read_text())
    except FileNotFoundError:
        return {"current": None, "contexts": {}}
    return data


def save(data: dict[str, Any]) -> Path:
    """Write the config atomically, readable by its owner only (it holds API keys)."""
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(data, out, indent=2)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path


def add_context(name: str, url: str, key: str) -> Path:
    """Store a context and make it the current one."""
    data = load()
    data.setdefault("contexts", {})[name] = {"url": url.rstrip("/"), "key": key}
    data["current"] = name
    return save(data)


def use_context(name: str) -> None:
    """Make ``name`` the current context."""
    data = load()
    if name not in data.get("contexts", {}):
        raise LookupError(f"no context named {name!r} (see `cf context list`)")
    data["current"] = name
    save(data)


def resolve(name: str | None = None) -> Context:
    """The context to use: ``name``, else ``CF_CONTEXT``, else the current one; ``CF_URL``/``CF_API_KEY`` override."""
    data = load()
    chosen = name or os.environ.get("CF_CONTEXT") or data.get("current")
    stored = data.get("contexts", {}).get(chosen or "", {})
    if chosen and not stored and name:
        raise LookupError(f"no context named {name!r} (see `cf context list`)")
    url = os.environ.get("CF_URL") or stored.get("url")
    key = os.environ.get("CF_API_KEY") or stored.get("key")
    if not url or not key:
        raise LookupError("not logged in: run `cf login --url URL` or set CF_URL and CF_API_KEY")
    return Context(name=chosen or "env", url=url, key=key)
