"""Every route pvesim serves, checked against pve-api-subset.json: path, method, parameters and returns."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
from pvesim.routes import all_routes
from pvesim.schema import Endpoint, load_schema
from pvesim.testing import PveSim
from pvesim.validation import MISSING, NOT_IN_SCHEMA, perl_regex

from tests.pvesim.pvesim_helpers import raw, wait

SCHEMA = load_schema()
SERVED = sorted(all_routes())

# Schema endpoints pvesim does not serve, and why.
NOT_SERVED: dict[tuple[str, str], str] = {}

# Fields real PVE returns beyond the schema's `returns` (see shared/notes/pve-behaviour.md).
EXTRA_FIELDS: dict[tuple[str, str], set[str]] = {
    ("GET", "/nodes"): {"id", "type"},
    ("GET", "/nodes/{node}/status"): {"uptime", "kversion", "swap", "idle", "wait", "ksm", "mhz", "hvm", "user_hz"},
    ("POST", "/access/ticket"): {"cap"},
    ("GET", "/nodes/{node}/tasks/{upid}/status"): {"tokenid"},
    # `current` carries digest and running; an entry being created or deleted carries snapstate (Qemu.pm).
    ("GET", "/nodes/{node}/qemu/{vmid}/snapshot"): {"digest", "running", "snapstate"},
    ("GET", "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}"): {"cmd"},
    ("GET", "/nodes/{node}/storage/{storage}/content"): {"content", "subtype"},  # Storage/Plugin list_volumes
    # The schema leaves RRD rows undescribed: these are pmxcfs status.c's VM and node data sources (notes §5).
    ("GET", "/nodes/{node}/qemu/{vmid}/rrddata"): {
        "time",
        "maxcpu",
        "cpu",
        "maxmem",
        "mem",
        "maxdisk",
        "disk",
        "netin",
        "netout",
        "diskread",
        "diskwrite",
        "memhost",
        "pressurecpusome",
        "pressurecpufull",
        "pressureiosome",
        "pressureiofull",
        "pressurememorysome",
        "pressurememoryfull",
    },
    ("GET", "/nodes/{node}/rrddata"): {
        "time",
        "loadavg",
        "maxcpu",
        "cpu",
        "iowait",
        "memtotal",
        "memused",
        "swaptotal",
        "swapused",
        "roottotal",
        "rootused",
        "netin",
        "netout",
        "memavailable",
        "arcsize",
        "pressurecpusome",
        "pressureiosome",
        "pressureiofull",
        "pressurememorysome",
        "pressurememoryfull",
    },
}

# Values PVE sends as JSON strings although the schema says integer (Perl stringification, §1 of the notes).
STRINGIFIED: dict[tuple[str, str], set[str]] = {
    ("GET", "/cluster/nextid"): {""},
    ("POST", "/nodes/{node}/qemu/{vmid}/vncproxy"): {"port"},
    ("POST", "/nodes/{node}/qemu/{vmid}/termproxy"): {"port"},
}


def _backup(px: Any) -> str:
    """A backup of a VM on sv1; returns its volid."""
    _vm(px)
    wait(px, px.nodes("sv1").vzdump.post(vmid=101, storage="local"))
    volid: str = px.nodes("sv1").storage("local").content.get(content="backup")[0]["volid"]
    return volid


def _snapshotted(px: Any) -> Any:
    vm = _vm(px)
    wait(px, vm.snapshot.post(snapname="before", description="d"))
    return vm


UPID = "UPID:sv1:00001234:00005678:AABBCCDD:qmstart:100:root@pam:"
PATH_VALUES = {"node": "sv1", "vmid": "9000", "upid": UPID, "snapname": "s1", "storage": "local",
               "volume": "local%3Abackup%2Fvzdump-qemu-9000-2026_01_01-00_00_00.vma"}  # fmt: skip


def test_every_served_route_is_in_the_schema() -> None:
    schema_routes = set(SCHEMA.endpoints)
    assert set(SERVED) <= schema_routes
    assert set(SERVED) | set(NOT_SERVED) == schema_routes
    assert not set(SERVED) & set(NOT_SERVED)


def _concrete_path(endpoint: Endpoint) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES[m.group(1)], endpoint.path)


def _bad_value(spec: dict[str, Any]) -> tuple[str, str | None]:
    """Return a value that must fail this parameter's check, and the expected error prefix."""
    kind = spec.get("type")
    if kind in ("integer", "number", "boolean"):
        value = "True" if kind == "boolean" else "x"
        return value, f"type check ('{kind}') failed - got '{value}'"
    if "enum" in spec:
        return "not-in-enum", "value 'not-in-enum' does not have a value in the enumeration"
    if "pattern" in spec:
        value = next(v for v in ("!!", "a b") if not perl_regex(spec["pattern"]).fullmatch(v))
        return value, "value does not match the regex pattern"
    if spec.get("format") == "property-string" or spec.get("format") == "pve-qm-ipconfig":
        return "pvesim-key=1", "invalid format - invalid key in comma-separated list property: pvesim-key"
    if spec.get("format") in (
        "pve-node",
        "pve-storage-id",
        "dns-name",
        "urlencoded",
        "pve-vmid",
        "address-list",
        "pve-startup-order",
    ):
        return "bad value!", "invalid format - "
    return "plain", None


def _send(sim: PveSim, endpoint: Endpoint, params: dict[str, str]) -> Any:
    path = _concrete_path(endpoint)
    if endpoint.method in ("GET", "DELETE"):
        return raw(sim, endpoint.method, path, params=params)
    return raw(sim, endpoint.method, path, data=params)


@pytest.mark.parametrize(("method", "path"), SERVED, ids=[f"{m} {p}" for m, p in SERVED])
def test_parameters_match_the_schema(sim: PveSim, method: str, path: str) -> None:
    """Unknown names are refused; every schema parameter is known with its type; required ones are required."""
    endpoint = SCHEMA.get(method, path)
    params = {"pvesim-probe": "1"}
    expected: dict[str, str | None] = {}
    for name, spec in [*endpoint.params.items(), *((f"{k}0", v) for k, v in endpoint.indexed.items())]:
        if name in endpoint.path_params:
            continue
        params[name], expected[name] = _bad_value(spec)
    response = _send(sim, endpoint, params)
    assert response.status_code == 400, response.text
    assert response.reason == "Parameter verification failed."
    errors = response.json()["errors"]
    assert errors.pop("pvesim-probe") == NOT_IN_SCHEMA
    for name, prefix in expected.items():
        if prefix is None:
            assert name not in errors, f"{name}: {errors.get(name)}"
        else:
            assert errors.pop(name).startswith(prefix), name
    assert errors == {}

    required = [n for n, s in endpoint.params.items() if s.get("required") and n not in endpoint.path_params]
    if required:
        response = _send(sim, endpoint, {})
        assert response.status_code == 400
        assert response.json()["errors"] == dict.fromkeys(required, MISSING)


def _spec_for(properties: dict[str, Any], key: str) -> dict[str, Any] | None:
    if key in properties:
        spec: dict[str, Any] = properties[key]
        return spec
    match = re.fullmatch(r"([a-z]+)\d+", key)
    if match and f"{match.group(1)}[n]" in properties:
        indexed: dict[str, Any] = properties[f"{match.group(1)}[n]"]
        return indexed
    return None


def check_value(schema: dict[str, Any], value: Any, where: str, route: tuple[str, str], field: str = "") -> None:
    """Check a returned value against a schema `returns` tree."""
    kind = schema.get("type")
    if field in STRINGIFIED.get(route, set()):
        assert isinstance(value, str), where
        assert value.isdigit(), where
        return
    if kind == "integer":
        assert type(value) is int, f"{where}: {value!r}"
    elif kind == "number":
        assert type(value) in (int, float), f"{where}: {value!r}"
    elif kind == "boolean":
        assert type(value) is int, f"{where}: {value!r}"
        assert value in (0, 1), f"{where}: {value!r}"
    elif kind == "string":
        assert isinstance(value, str), f"{where}: {value!r}"
    elif kind == "null":
        assert value is None, where
    elif kind == "array":
        assert isinstance(value, list), where
        for i, item in enumerate(value):
            check_value(schema.get("items", {}), item, f"{where}[{i}]", route)
    if isinstance(value, dict) and isinstance(schema.get("properties"), dict):
        properties = schema["properties"]
        for key, spec in properties.items():
            if isinstance(spec, dict) and not spec.get("optional") and "[n]" not in key:
                assert key in value, f"{where}: required field '{key}' missing"
        extra_ok = EXTRA_FIELDS.get(route, set())
        for key, item in value.items():
            spec = _spec_for(properties, key)
            if spec is None:
                assert schema.get("additionalProperties") or key in extra_ok, f"{where}: unexpected field '{key}'"
                continue
            if isinstance(spec, dict):
                check_value(spec, item, f"{where}.{key}", route, key)


def _vm(px: Any) -> Any:
    wait(px, px.nodes("sv1").qemu(9000).clone.post(newid=101, name="conf"))
    vm = px.nodes("sv1").qemu(101)
    wait(px, vm.status.start.post())
    vm.config.put(cores=4)
    return vm


def _spice_vm(px: Any) -> Any:
    vm = _vm(px)
    vm.config.put(vga="qxl")  # SPICE needs a qxl display (QemuServer.pm vga_conf_has_spice); applied on reboot
    wait(px, vm.status.reboot.post())
    return vm


HAPPY: dict[tuple[str, str], Callable[[PveSim, Any], Any]] = {
    ("GET", "/version"): lambda sim, px: px.version.get(),
    ("GET", "/nodes"): lambda sim, px: px.nodes.get(),
    ("GET", "/nodes/{node}/status"): lambda sim, px: px.nodes("sv1").status.get(),
    ("GET", "/cluster/resources"): lambda sim, px: px.cluster.resources.get(),
    ("GET", "/cluster/nextid"): lambda sim, px: px.cluster.nextid.get(),
    ("GET", "/nodes/{node}/qemu"): lambda sim, px: (_vm(px), px.nodes("sv1").qemu.get(full=1))[1],
    ("POST", "/nodes/{node}/qemu/{vmid}/clone"): lambda sim, px: px.nodes("sv1").qemu(9000).clone.post(newid=150),
    ("GET", "/nodes/{node}/qemu/{vmid}/config"): lambda sim, px: _vm(px).config.get(),
    ("POST", "/nodes/{node}/qemu/{vmid}/config"): lambda sim, px: _vm(px).config.post(cores=2),
    ("PUT", "/nodes/{node}/qemu/{vmid}/config"): lambda sim, px: _vm(px).config.put(cores=2),
    ("PUT", "/nodes/{node}/qemu/{vmid}/resize"): lambda sim, px: _vm(px).resize.put(disk="scsi0", size="+1G"),
    ("GET", "/nodes/{node}/qemu/{vmid}/status/current"): lambda sim, px: _vm(px).status.current.get(),
    ("POST", "/nodes/{node}/qemu/{vmid}/status/start"): lambda sim, px: _vm(px).status.start.post(),
    ("POST", "/nodes/{node}/qemu/{vmid}/status/stop"): lambda sim, px: _vm(px).status.stop.post(),
    ("POST", "/nodes/{node}/qemu/{vmid}/status/shutdown"): lambda sim, px: _vm(px).status.shutdown.post(),
    ("POST", "/nodes/{node}/qemu/{vmid}/status/reboot"): lambda sim, px: _vm(px).status.reboot.post(),
    ("POST", "/nodes/{node}/qemu/{vmid}/status/suspend"): lambda sim, px: _vm(px).status.suspend.post(),
    ("POST", "/nodes/{node}/qemu/{vmid}/status/resume"): lambda sim, px: _vm(px).status.resume.post(),
    ("POST", "/nodes/{node}/qemu/{vmid}/status/reset"): lambda sim, px: _vm(px).status.reset.post(),
    ("DELETE", "/nodes/{node}/qemu/{vmid}"): lambda sim, px: px.nodes("sv1").qemu(9000).delete(),
    ("POST", "/nodes/{node}/qemu/{vmid}/vncproxy"): lambda sim, px: _vm(px).vncproxy.post(),
    ("POST", "/nodes/{node}/qemu/{vmid}/spiceproxy"): lambda sim, px: _spice_vm(px).spiceproxy.post(),
    ("POST", "/nodes/{node}/qemu/{vmid}/termproxy"): lambda sim, px: _vm(px).termproxy.post(),
    ("GET", "/nodes/{node}/qemu/{vmid}/vncwebsocket"): lambda sim, px: (
        (proxy := _vm(px).vncproxy.post(websocket=1)),
        px.nodes("sv1").qemu(101).vncwebsocket.get(port=proxy["port"], vncticket=proxy["ticket"]),
    )[1],
    ("GET", "/nodes/{node}/tasks/{upid}/status"): lambda sim, px: (
        px.nodes("sv1").tasks(px.nodes("sv1").qemu(9000).clone.post(newid=150)).status.get()
    ),
    ("GET", "/nodes/{node}/tasks/{upid}/log"): lambda sim, px: (
        px.nodes("sv1").tasks(px.nodes("sv1").qemu(9000).clone.post(newid=150)).log.get()
    ),
    ("POST", "/access/ticket"): lambda sim, px: px.access.ticket.post(username="root@pam", password=sim.root_password),
    ("GET", "/nodes/{node}/storage"): lambda sim, px: px.nodes("sv1").storage.get(format=1),
    ("GET", "/access/permissions"): lambda sim, px: px.access.permissions.get(),
    ("POST", "/nodes/{node}/qemu/{vmid}/template"): lambda sim, px: (
        wait(px, px.nodes("sv1").qemu(9000).clone.post(newid=150)),
        px.nodes("sv1").qemu(150).template.post(),
    )[1],
    ("GET", "/nodes/{node}/qemu/{vmid}/pending"): lambda sim, px: _vm(px).pending.get(),
    ("GET", "/nodes/{node}/tasks"): lambda sim, px: (_vm(px), px.nodes("sv1").tasks.get(source="all"))[1],
    ("DELETE", "/nodes/{node}/tasks/{upid}"): lambda sim, px: (
        px.nodes("sv1").tasks(px.nodes("sv1").qemu(9000).clone.post(newid=150)).delete()
    ),
    ("GET", "/nodes/{node}/qemu/{vmid}/status"): lambda sim, px: px.nodes("sv1").qemu(9000).status.get(),
    ("GET", "/nodes/{node}/qemu/{vmid}/agent/network-get-interfaces"): lambda sim, px: (
        _vm(px).agent("network-get-interfaces").get()
    ),
    ("POST", "/nodes/{node}/qemu/{vmid}/agent/ping"): lambda sim, px: _vm(px).agent.ping.post(),
    ("GET", "/nodes/{node}/qemu/{vmid}/snapshot"): lambda sim, px: _snapshotted(px).snapshot.get(),
    ("POST", "/nodes/{node}/qemu/{vmid}/snapshot"): lambda sim, px: _vm(px).snapshot.post(snapname="s1"),
    ("GET", "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}"): lambda sim, px: _vm(px).snapshot("nope").get(),
    ("DELETE", "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}"): lambda sim, px: (
        _snapshotted(px).snapshot("before").delete()
    ),
    ("GET", "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}/config"): lambda sim, px: (
        _snapshotted(px).snapshot("before").config.get()
    ),
    ("PUT", "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}/config"): lambda sim, px: (
        _snapshotted(px).snapshot("before").config.put(description="new")
    ),
    ("POST", "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}/rollback"): lambda sim, px: (
        _snapshotted(px).snapshot("before").rollback.post()
    ),
    ("POST", "/nodes/{node}/vzdump"): lambda sim, px: (_vm(px), px.nodes("sv1").vzdump.post(vmid=101))[1],
    ("GET", "/nodes/{node}/storage/{storage}/content"): lambda sim, px: (
        _backup(px),
        px.nodes("sv1").storage("local").content.get(),
    )[1],
    ("DELETE", "/nodes/{node}/storage/{storage}/content/{volume}"): lambda sim, px: (
        px.nodes("sv1").storage("local").content(quote(_backup(px), safe="")).delete()
    ),
    ("POST", "/nodes/{node}/qemu"): lambda sim, px: px.nodes("sv1").qemu.post(vmid=150, archive=_backup(px)),
    ("GET", "/nodes/{node}/qemu/{vmid}/rrddata"): lambda sim, px: (
        _vm(px),
        sim.call(lambda: setattr(sim.cluster.vms[101], "created_at", 0.0)),
        px.nodes("sv1").qemu(101).rrddata.get(timeframe="hour"),
    )[2],
    ("GET", "/nodes/{node}/rrddata"): lambda sim, px: px.nodes("sv1").rrddata.get(timeframe="day"),
}


def test_every_served_route_has_a_returns_check() -> None:
    assert set(HAPPY) == set(SERVED)


@pytest.mark.parametrize(("method", "path"), SERVED, ids=[f"{m} {p}" for m, p in SERVED])
def test_returns_match_the_schema(sim: PveSim, px: Any, method: str, path: str) -> None:
    """A successful call returns data of the schema's shape: types, required fields, no unknown fields."""
    route = (method, path)
    data = HAPPY[route](sim, px)
    returns = SCHEMA.get(method, path).returns
    if returns.get("type") == "string" and isinstance(data, str) and data.startswith("UPID:"):
        assert data.endswith(":")
    check_value(returns, data, f"{method} {path}", route)
    if returns.get("type") in ("object", None) and "properties" in returns:
        assert isinstance(data, dict)
