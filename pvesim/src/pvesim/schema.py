"""The official PVE API schema subset (pve-docs api-viewer/apidata.js), loaded once at start."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

SCHEMA_RESOURCE = "pve-api-subset.json"

# Highest index of numbered parameters such as net[n] (qemu-server PVE/QemuServer.pm $MAX_* constants).
INDEXED_MAX: dict[str, int] = {
    "net": 31,
    "ipconfig": 31,
    "scsi": 30,
    "virtio": 15,
    "sata": 5,
    "ide": 3,
    "hostpci": 15,
    "numa": 7,
    "serial": 3,
    "parallel": 2,
    "usb": 13,
    "unused": 255,
    "virtiofs": 9,
}

_PATH_PARAM = re.compile(r"\{(\w+)\}")
_INDEXED = re.compile(r"^([a-z]+)\[n\]$")


@dataclass(frozen=True)
class Endpoint:
    """One method+path of the schema with its parameter and return definitions."""

    method: str
    path: str
    name: str
    allowtoken: bool
    params: dict[str, dict[str, Any]]
    indexed: dict[str, dict[str, Any]]
    returns: dict[str, Any]
    path_params: tuple[str, ...]
    pattern: re.Pattern[str] = field(compare=False)

    def lookup(self, name: str) -> dict[str, Any] | None:
        """Return the parameter definition for `name`, resolving numbered names like `net0`."""
        spec = self.params.get(name)
        if spec is not None:
            return spec
        match = re.fullmatch(r"([a-z]+)(\d+)", name)
        if match is None:
            return None
        prefix, index = match.group(1), int(match.group(2))
        spec = self.indexed.get(prefix)
        if spec is None or index > INDEXED_MAX.get(prefix, 255):
            return None
        if match.group(2) != str(index):
            return None
        return spec


@dataclass(frozen=True)
class Schema:
    """All endpoints of the subset, addressable by (method, path template)."""

    endpoints: dict[tuple[str, str], Endpoint]
    raw: dict[str, Any]

    def get(self, method: str, path: str) -> Endpoint:
        """Return the endpoint for a method and path template; KeyError if the schema lacks it."""
        return self.endpoints[(method, path)]

    def match(self, method: str, path: str) -> tuple[Endpoint, dict[str, str]] | None:
        """Find the endpoint serving a concrete path, with its URL parameters."""
        for (ep_method, _), endpoint in self.endpoints.items():
            if ep_method != method:
                continue
            found = endpoint.pattern.fullmatch(path)
            if found is not None:
                return endpoint, found.groupdict()
        return None


def _compile_path(path: str) -> re.Pattern[str]:
    regex = _PATH_PARAM.sub(lambda m: f"(?P<{m.group(1)}>[^/]+)", path)
    return re.compile(regex)


def _endpoint(entry: dict[str, Any]) -> Endpoint:
    params: dict[str, dict[str, Any]] = {}
    indexed: dict[str, dict[str, Any]] = {}
    for param in entry["parameters"]:
        match = _INDEXED.match(param["name"])
        if match:
            indexed[match.group(1)] = param
        else:
            params[param["name"]] = param
    return Endpoint(
        method=entry["method"],
        path=entry["path"],
        name=entry["name"],
        allowtoken=bool(entry.get("allowtoken", True)),
        params=params,
        indexed=indexed,
        returns=entry["returns"],
        path_params=tuple(_PATH_PARAM.findall(entry["path"])),
        pattern=_compile_path(entry["path"]),
    )


def parse_schema(raw: dict[str, Any]) -> Schema:
    """Build a Schema from the decoded JSON subset."""
    endpoints = {(e["method"], e["path"]): _endpoint(e) for e in raw["endpoints"]}
    return Schema(endpoints=endpoints, raw=raw)


@cache
def load_schema() -> Schema:
    """Load the bundled schema subset (a copy of shared/reference/pve-api-subset.json)."""
    text = resources.files("pvesim.data").joinpath(SCHEMA_RESOURCE).read_text(encoding="utf-8")
    return parse_schema(json.loads(text))
