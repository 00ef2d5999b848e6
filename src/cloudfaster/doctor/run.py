"""Runs every check against the configured installation and gathers the report."""

from __future__ import annotations

from dataclasses import dataclass

from cloudfaster.apps.spec import ServiceType
from cloudfaster.doctor.docker import TEMPLATES, docker_checks
from cloudfaster.doctor.proxmox import proxmox_checks
from cloudfaster.doctor.proxy import proxy_checks
from cloudfaster.doctor.report import Check, Report
from cloudfaster.settings import Settings
from cloudfaster.vms.runtime import connect

AREAS = ("proxmox", "docker", "proxy")


@dataclass(frozen=True, slots=True)
class DoctorOptions:
    """What to check: ``offline`` uses the images already on this host (the stand-ins in tests) without pulling;
    ``areas`` limits the run; ``templates`` limits the Docker templates started."""

    offline: bool = False
    areas: tuple[str, ...] = AREAS
    templates: tuple[ServiceType, ...] = tuple(TEMPLATES)


def sandbox_warning() -> Check:
    """No Proxmox VE node configured: CloudFaster would run its simulator, which is no place for users."""
    return Check.warning(
        "proxmox.api",
        "no Proxmox VE node is configured: CloudFaster runs the embedded pvesim sandbox",
        'set CLOUDFASTER_PROXMOX__NODES (e.g. [{"name":"pve1","host":"10.0.0.11"}]), __TOKEN_ID and __TOKEN_SECRET',
    )


async def run_doctor(settings: Settings, options: DoctorOptions | None = None) -> Report:
    """Every check the options ask for, Proxmox VE first, then Docker, then the reverse proxy."""
    options = options or DoctorOptions()
    checks: list[Check] = []
    if "proxmox" in options.areas:
        if settings.proxmox.use_sandbox:
            checks.append(sandbox_warning())
        else:
            hv = connect(settings.proxmox)
            try:
                checks += await proxmox_checks(hv, settings.proxmox)
            finally:
                await hv.close()
    if "docker" in options.areas:
        checks += await docker_checks(settings.docker, offline=options.offline, templates=list(options.templates))
    if "proxy" in options.areas:
        checks += await proxy_checks(settings.proxy)
    return Report(checks)
