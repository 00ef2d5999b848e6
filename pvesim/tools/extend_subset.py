"""Add endpoints of the official PVE API schema (pve-docs apidata) to pvesim's subset, in the subset's shape.

Usage: python pvesim/tools/extend_subset.py APIDATA.json 'METHOD /path' ['METHOD /path' ...]

Entries already in the subset are replaced by a fresh conversion; the others are appended in the order given.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

SUBSET = Path(__file__).resolve().parents[1] / "src" / "pvesim" / "data" / "pve-api-subset.json"
KEPT = ("type", "format_description", "default", "default_key", "enum", "minimum", "maximum", "maxLength",
        "minLength", "pattern", "requires", "typetext", "alias", "keyAlias", "items", "renderer")  # fmt: skip


def _walk(nodes: list[dict[str, Any]]) -> Any:
    for node in nodes:
        yield node
        yield from _walk(node.get("children") or [])


def _sub(spec: dict[str, Any]) -> dict[str, Any]:
    out = {key: spec[key] for key in KEPT if key in spec}
    if spec.get("optional"):
        out["optional"] = True
    fmt = spec.get("format")
    if isinstance(fmt, dict):
        out["format"] = "property-string"
        out["subkeys"] = {key: _sub(value) for key, value in sorted(fmt.items())}
    elif fmt is not None:
        out["format"] = fmt
    return out


def _param(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "type": spec.get("type", "string"), "required": not spec.get("optional")}
    out.update({key: value for key, value in _sub(spec).items() if key not in ("type", "optional")})
    if "description" in spec:
        out["desc"] = spec["description"]
    return out


def _returns(spec: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {key: spec[key] for key in ("type", "optional", "minimum", "renderer") if key in spec}
    if spec.get("optional"):
        out["optional"] = True
    if "description" in spec:
        out["desc"] = spec["description"]
    if isinstance(spec.get("items"), dict):
        out["items"] = _returns(spec["items"])
    if isinstance(spec.get("properties"), dict):
        out["properties"] = {key: _returns(value) for key, value in sorted(spec["properties"].items())}
    return out


def convert(path: str, info: dict[str, Any]) -> dict[str, Any]:
    """One apidata method entry in the subset's format."""
    properties = info.get("parameters", {}).get("properties", {})
    entry: dict[str, Any] = {
        "method": info["method"],
        "path": path,
        "name": info["name"],
        "desc": info.get("description", ""),
        "protected": bool(info.get("protected")),
        "allowtoken": bool(info.get("allowtoken", 1)),
        "permissions": info.get("permissions", {}),
        "parameters": [_param(name, spec) for name, spec in sorted(properties.items())],
        "returns": _returns(info.get("returns", {})),
        "extra": True,
    }
    if "proxyto" in info:
        entry["proxyto"] = info["proxyto"]
    return entry


def main() -> None:
    """Convert the named endpoints and write the subset back."""
    apidata = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    subset = json.loads(SUBSET.read_text(encoding="utf-8"))
    found = {(m, n["path"]): info for n in _walk(apidata) for m, info in (n.get("info") or {}).items()}
    for wanted in sys.argv[2:]:
        method, path = wanted.split(" ", 1)
        entry = convert(path, found[(method, path)])
        index = next((i for i, e in enumerate(subset["endpoints"]) if (e["method"], e["path"]) == (method, path)), None)
        if index is None:
            subset["endpoints"].append(entry)
        else:
            subset["endpoints"][index] = entry
    SUBSET.write_text(json.dumps(subset, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
