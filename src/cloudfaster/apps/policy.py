"""An allowlist check of the security-relevant keys of a rendered compose file (notes/docker-side.md §4:
"the template renderer must own every security-relevant key ... check the rendered file against an allowlist")."""

from __future__ import annotations

from typing import Any

from cloudfaster.apps.errors import TemplateError

FORBIDDEN_KEYS = ("privileged", "network_mode", "pid", "ipc", "userns_mode", "cgroup_parent", "volumes_from")
ALLOWED_CAPS = frozenset({"CHOWN", "SETUID", "SETGID", "DAC_OVERRIDE", "FOWNER"})
ALLOWED_BIND_SOURCES = ("./data", "./filebrowser/database", "./filebrowser/config", "./nginx.conf")
ALLOWED_DEVICE_TARGET = "/dev/kvm"


def _violations(name: str, service: dict[str, Any], bind_address: str, allow_kvm: bool) -> list[str]:
    problems = [f"{name}: {key} is not allowed" for key in FORBIDDEN_KEYS if key in service]
    if service.get("cap_drop") != ["ALL"]:
        problems.append(f"{name}: must drop all capabilities")
    if "no-new-privileges:true" not in service.get("security_opt", []):
        problems.append(f"{name}: must set no-new-privileges")
    extra_caps = set(service.get("cap_add", [])) - ALLOWED_CAPS
    if extra_caps:
        problems.append(f"{name}: capabilities {sorted(extra_caps)} are not allowed")
    for device in service.get("devices", []):
        if not (allow_kvm and str(device).split(":")[-1] == ALLOWED_DEVICE_TARGET):
            problems.append(f"{name}: device {device} is not allowed")
    for volume in service.get("volumes", []):
        source = str(volume).split(":", 1)[0]
        if source.startswith((".", "/", "~", "$")) and source not in ALLOWED_BIND_SOURCES:
            problems.append(f"{name}: bind mount source {source} is not allowed")
    for port in service.get("ports", []):
        if not str(port).startswith(f"{bind_address}:"):
            problems.append(f"{name}: port {port} is not bound to {bind_address}")
    if "healthcheck" not in service:
        problems.append(f"{name}: has no healthcheck")
    return problems


def check_policy(compose: dict[str, Any], bind_address: str, allow_kvm: bool = False) -> None:
    """Raise ``TemplateError`` (code ``compose_policy_violation``) if any service breaks the hardening rules."""
    problems: list[str] = []
    for name, service in compose.get("services", {}).items():
        problems.extend(_violations(name, service, bind_address, allow_kvm))
    if problems:
        raise TemplateError("; ".join(problems), code="compose_policy_violation")
