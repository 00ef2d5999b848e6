"""Parameter validation with PVE's error texts (pve-common src/PVE/JSONSchema.pm)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

from pvesim.errors import PveError, param_error
from pvesim.schema import Endpoint

NOT_IN_SCHEMA = "property is not defined in schema and the schema does not allow additional properties"
MISSING = "property is missing and it is not optional"

_INTEGER = re.compile(r"^[+-]?\d+$")
_NUMBER = re.compile(r"^[+-]?(\d+\.\d+|\d+\.|\.\d+|\d+)([eE][+-]?\d+)?$")
_CONFIGID = re.compile(r"^[a-z][a-z0-9_-]+$", re.IGNORECASE)
_NAME_LABEL = r"([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?)"
_DNS_NAME = re.compile(rf"^({_NAME_LABEL}\.)*{_NAME_LABEL}$")
_TAG = re.compile(r"^[a-z0-9_][a-z0-9_\-+.]*$", re.IGNORECASE)


class FormatError(Exception):
    """A format check failed; the text follows `invalid format - `."""


def _regex_check(pattern: str, message: str) -> Callable[[str], None]:
    compiled = re.compile(pattern)

    def check(value: str) -> None:
        if not compiled.search(value):
            raise FormatError(message.format(value=value))

    return check


def _split_list(value: str) -> list[str]:
    # PVE::Tools::split_list splits on commas, semicolons, whitespace and NUL.
    return [part for part in re.split(r"[,;\s\0]+", value) if part]


def _check_configid_list(value: str) -> None:
    for item in _split_list(value):
        if not _CONFIGID.match(item):
            raise FormatError(f"invalid configuration ID '{item}'")


def _check_tag_list(value: str) -> None:
    for tag in re.split(r"[;, ]", value):
        if tag and not _TAG.match(tag):
            raise FormatError("invalid characters in tag")


def _check_ip(kind: type[ipaddress.IPv4Address] | type[ipaddress.IPv6Address], text: str) -> Callable[[str], None]:
    def check(value: str) -> None:
        try:
            kind(value)
        except ValueError:
            raise FormatError(f"value does not look like a valid {text} address") from None

    return check


def _check_cidr(version: int, keywords: tuple[str, ...], text: str) -> Callable[[str], None]:
    def check(value: str) -> None:
        if value in keywords:
            return
        address, _, bits = value.partition("/")
        try:
            parsed = ipaddress.ip_address(address)
            ok = parsed.version == version and bits.isdigit() and 7 < int(bits) <= (32 if version == 4 else 128)
        except ValueError:
            ok = False
        if not ok:
            raise FormatError(f"value does not look like a valid {text} network configuration")

    return check


def _check_address(value: str) -> None:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        if not _DNS_NAME.match(value):
            raise FormatError(f"value does not look like a valid address: {value}") from None


def _check_address_list(value: str) -> None:
    for item in _split_list(value):
        try:
            ipaddress.ip_address(item)
        except ValueError:
            raise FormatError(f"unable to parse IP address '{item}'") from None


def _check_startup(value: str) -> None:
    for part in value.split(","):
        if part.strip() and not re.match(r"^((order=)?\d+|up=\d+|down=\d+)$", part):
            raise FormatError("unable to parse startup options")


IPCONFIG_FORMAT: dict[str, dict[str, Any]] = {
    "ip": {"type": "string", "format": "pve-ipv4-config", "optional": True},
    "gw": {"type": "string", "format": "ipv4", "optional": True},
    "ip6": {"type": "string", "format": "pve-ipv6-config", "optional": True},
    "gw6": {"type": "string", "format": "ipv6", "optional": True},
}

FORMAT_CHECKS: dict[str, Callable[[str], None]] = {
    "pve-vmid": _regex_check(r"^[1-9][0-9]{2,8}$", "value does not look like a valid VM ID"),
    "pve-node": _regex_check(
        r"^([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?)$", "value does not look like a valid node name"
    ),
    "pve-storage-id": _regex_check(r"^[a-z][a-z0-9\-_.]*[a-z0-9]$", "storage ID '{value}' contains illegal characters"),
    "pve-bridge-id": _regex_check(r"^[-_.\w\d]+$", "invalid bridge ID '{value}'"),
    "pve-configid": _regex_check(_CONFIGID.pattern, "invalid configuration ID '{value}'"),
    "pve-configid-list": _check_configid_list,
    "pve-tag-list": _check_tag_list,
    "dns-name": _regex_check(_DNS_NAME.pattern, "value does not look like a valid DNS name"),
    "urlencoded": _regex_check(r"^[-%a-zA-Z0-9_.!~*'()]*$", "invalid urlencoded string: {value}"),
    "mac-addr": _regex_check(
        r"^[a-fA-F0-9][02468aceACE](?::[a-fA-F0-9]{2}){5}$", "value does not look like a valid unicast MAC address"
    ),
    "ipv4": _check_ip(ipaddress.IPv4Address, "IPv4"),
    "ipv6": _check_ip(ipaddress.IPv6Address, "IPv6"),
    "pve-ipv4-config": _check_cidr(4, ("dhcp", "manual"), "ipv4"),
    "pve-ipv6-config": _check_cidr(6, ("auto", "dhcp", "manual"), "ipv6"),
    "address": _check_address,
    "address-list": _check_address_list,
    "pve-startup-order": _check_startup,
}

# Named property-string formats whose keys the subset does not spell out.
NAMED_PROPERTY_FORMATS: dict[str, dict[str, dict[str, Any]]] = {"pve-qm-ipconfig": IPCONFIG_FORMAT}


@cache
def perl_regex(pattern: str) -> re.Pattern[str]:
    """Compile a schema pattern; Perl's stringified `(?^:…)` groups become `(?:…)`."""
    return re.compile(pattern.replace("(?^:", "(?:").replace("(?^i:", "(?i:"))


def parse_boolean(value: str) -> int | None:
    """Parse a boolean inside a property string (JSONSchema `parse_boolean`)."""
    if re.fullmatch(r"1|on|yes|true", value, re.IGNORECASE):
        return 1
    if re.fullmatch(r"0|off|no|false", value, re.IGNORECASE):
        return 0
    return None


def _type_error(kind: str, value: Any) -> str | None:
    """Return check_type's error for a scalar value, or None when it fits."""
    if isinstance(value, list):
        return f"type check ('{kind}') failed - got ARRAY"
    if isinstance(value, dict):
        return f"type check ('{kind}') failed - got HASH"
    if kind == "boolean":
        if isinstance(value, bool) or str(value) in ("0", "1"):
            return None
        return f"type check ('boolean') failed - got '{value}'"
    is_int = isinstance(value, int) and not isinstance(value, bool)
    if kind == "integer" and not is_int and not _INTEGER.match(str(value)):
        return f"type check ('integer') failed - got '{value}'"
    if kind == "number" and not isinstance(value, int | float) and not _NUMBER.match(str(value)):
        return f"type check ('number') failed - got '{value}'"
    return None


def _coerce(kind: str, value: Any) -> Any:
    if kind == "boolean":
        return int(value) if isinstance(value, bool) else int(str(value))
    if kind == "integer":
        return int(value) if isinstance(value, int) else int(str(value))
    if kind == "number":
        number = float(value) if isinstance(value, int | float) else float(str(value))
        return int(number) if number.is_integer() and isinstance(value, int) else number
    return str(value)


def _parse_property_string(
    fmt: Mapping[str, dict[str, Any]], text: str, path: str
) -> tuple[dict[str, Any], dict[str, str]]:
    """Split a property string into keys (JSONSchema `parse_property_string`); return values and errors."""
    result: dict[str, Any] = {}
    default_key: str | None = None
    for part in text.split(","):
        if not part.strip():
            continue
        match = re.fullmatch(r"([^=]+)=(.+)", part, re.DOTALL)
        if match:
            key, val = match.group(1), match.group(2)
            if key in result:
                raise FormatError(f"duplicate key in comma-separated list property: {key}")
            sub = fmt.get(key)
            if sub is not None and "alias" in sub:
                if "keyAlias" in sub:
                    if sub["keyAlias"] in result:
                        raise FormatError(f"key alias '{sub['keyAlias']}' is already defined")
                    result[sub["keyAlias"]] = key
                key = sub["alias"]
                sub = fmt.get(key)
            if sub is None:
                raise FormatError(f"invalid key in comma-separated list property: {key}")
            if sub.get("type") == "boolean":
                parsed = parse_boolean(val)
                result[key] = val if parsed is None else parsed
            else:
                result[key] = val
        elif "=" not in part:
            if default_key is not None:
                raise FormatError(f"duplicate key in comma-separated list property: {default_key}")
            default_key = next((k for k, v in fmt.items() if v.get("default_key")), None)
            if default_key is None:
                raise FormatError("value without key, but schema does not define a default key")
            if default_key in result:
                raise FormatError(f"duplicate key in comma-separated list property: {default_key}")
            result[default_key] = part
        else:
            raise FormatError("missing key in comma-separated list property")
    errors: dict[str, str] = {}
    for key, sub in fmt.items():
        if "alias" in sub:
            continue
        _check_value(result.get(key), sub, f"{path}.{key}", errors)
    return result, errors


def _check_value(value: Any, spec: Mapping[str, Any], path: str, errors: dict[str, str]) -> None:
    """Check one value against its schema (JSONSchema `check_prop` for scalars)."""
    if value is None:
        if not spec.get("optional") and spec.get("required", True) is not False:
            errors[path] = MISSING
        return
    kind = spec.get("type", "string")
    type_error = _type_error(kind, value)
    if type_error is not None:
        errors[path] = type_error
        return
    text = str(value)
    fmt = spec.get("format")
    if fmt is not None:
        try:
            _check_format(fmt, spec, text, path)
        except FormatError as exc:
            detail = str(exc)
            errors[path] = f"invalid format - {detail}" + ("" if detail.endswith("\n") else "\n")
            return
    pattern = spec.get("pattern")
    if pattern is not None and not perl_regex(pattern).fullmatch(text):
        errors[path] = "value does not match the regex pattern"
        return
    max_len = spec.get("maxLength")
    if max_len is not None and len(text) > max_len:
        errors[path] = f"value may only be {max_len} characters long"
        return
    min_len = spec.get("minLength")
    if min_len is not None and len(text) < min_len:
        errors[path] = f"value must be at least {min_len} characters long"
        return
    if _NUMBER.match(text):
        number = float(text)
        if spec.get("maximum") is not None and number > float(spec["maximum"]):
            errors[path] = f"value must have a maximum value of {spec['maximum']}"
            return
        if spec.get("minimum") is not None and number < float(spec["minimum"]):
            errors[path] = f"value must have a minimum value of {spec['minimum']}"
            return
    enum = spec.get("enum")
    if enum is not None and text not in [str(e) for e in enum]:
        errors[path] = f"value '{text}' does not have a value in the enumeration '{', '.join(map(str, enum))}'"


def _check_format(fmt: Any, spec: Mapping[str, Any], text: str, path: str) -> None:
    subkeys = spec.get("subkeys")
    if fmt == "property-string" and isinstance(subkeys, dict):
        property_format: Mapping[str, dict[str, Any]] | None = subkeys
    else:
        property_format = NAMED_PROPERTY_FORMATS.get(fmt) if isinstance(fmt, str) else None
    if property_format is not None:
        _, sub_errors = _parse_property_string(property_format, text, path)
        if sub_errors:
            # PVE::Exception stringification appends one "<path>: <msg>" line per error.
            detail = "".join(f"{k}: {v}\n" for k, v in sorted(sub_errors.items()))
            raise FormatError(f"format error\n{detail}")
        return
    check = FORMAT_CHECKS.get(fmt) if isinstance(fmt, str) else None
    if check is not None:
        check(text)


def parse_property_string(fmt: Mapping[str, dict[str, Any]], text: str) -> dict[str, Any]:
    """Parse a stored property string leniently (no validation errors raised)."""
    try:
        values, _ = _parse_property_string(fmt, text, "")
    except FormatError:
        return {}
    return values


def validate_params(endpoint: Endpoint, params: Mapping[str, Any]) -> dict[str, Any]:
    """Validate request parameters against the endpoint schema; return them coerced to schema types."""
    errors: dict[str, str] = {}
    result: dict[str, Any] = {}
    for name, spec in endpoint.params.items():
        if spec.get("required") and name not in params:
            errors[name] = MISSING
    for name, value in params.items():
        found = endpoint.lookup(name)
        if found is None:
            errors[name] = NOT_IN_SCHEMA
            continue
        before = len(errors)
        _check_value(value, found, name, errors)
        if len(errors) == before:
            result[name] = _coerce(found.get("type", "string"), value)
        required_by = found.get("requires")
        if isinstance(required_by, str) and required_by not in params and required_by not in errors:
            # JSONSchema.pm check_prop: "missing property required by '<name>'", keyed on the missing one.
            errors[required_by] = f"missing property required by '{name}'"
    if errors:
        raise param_error(errors)
    return result


def merge_params(url_params: Mapping[str, str], query: Mapping[str, Any], body: Mapping[str, Any]) -> dict[str, Any]:
    """Merge body, query and URL parameters as pve-http-server does (query over body, URL must agree)."""
    merged: dict[str, Any] = dict(body)
    merged.update(query)
    for name, value in url_params.items():
        if name in merged and str(merged[name]) != value:
            raise PveError(
                400,
                "Parameter verification failed.",
                {name: "duplicate parameter (already defined in URI) with conflicting values!"},
            )
        merged[name] = value
    return merged
