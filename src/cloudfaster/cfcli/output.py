"""Printing answers: a table for people, ``-o json`` / ``-o yaml`` (exactly the API's fields) for scripts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

import yaml
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

console = Console()
errors = Console(stderr=True)


class Format(StrEnum):
    """Output formats."""

    table = "table"
    json = "json"
    yaml = "yaml"


def plain(value: Any) -> Any:
    """JSON-ready data of a model, a list of models or plain data."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def show(value: Any, fmt: Format, columns: Sequence[str] = ()) -> None:
    """Print ``value`` as ``fmt``; tables show ``columns`` (all scalar fields when empty)."""
    data = plain(value)
    if fmt is Format.json:
        print(json.dumps(data, indent=2))
    elif fmt is Format.yaml:
        print(yaml.safe_dump(data, sort_keys=False), end="")
    elif isinstance(data, list):
        table = Table(*columns) if columns else Table()
        for row in data:
            if not columns:
                columns = [k for k, v in row.items() if not isinstance(v, dict | list)]
                table = Table(*columns)
            table.add_row(*(_cell(row.get(c)) for c in columns))
        console.print(table)
    elif isinstance(data, dict):
        table = Table(show_header=False, box=None)
        for key, item in data.items():
            if item is not None and (not columns or key in columns):
                table.add_row(f"[bold]{key}[/]", _cell(item))
        console.print(table)
    else:
        console.print(data)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)
