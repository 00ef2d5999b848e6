"""The Docker half's settings as the plain values its parts take, built once from ``DockerSettings``."""

from __future__ import annotations

from cloudfaster.apps.git_intake import GitLimits
from cloudfaster.apps.templates import TemplateConfig
from cloudfaster.apps.zip_intake import ZipLimits
from cloudfaster.settings import DockerSettings


def template_config(docker: DockerSettings) -> TemplateConfig:
    """What the templates take: bind address, healthcheck pace, Filebrowser and macOS images, the KVM device."""
    return TemplateConfig(
        bind_address=docker.bind_address,
        healthcheck_interval_s=docker.healthcheck_interval_s,
        filebrowser_image=docker.filebrowser_image,
        macos_enabled=docker.macos_enabled,
        macos_image=docker.macos_image,
        kvm_device=docker.kvm_device,
    )


def zip_limits(docker: DockerSettings) -> ZipLimits:
    """The limits of one ZIP upload."""
    return ZipLimits(
        max_zip_bytes=docker.max_zip_bytes,
        max_unpacked_bytes=docker.max_unpacked_bytes,
        max_entries=docker.max_zip_entries,
        max_ratio=docker.max_zip_ratio,
    )


def git_limits(docker: DockerSettings) -> GitLimits:
    """The bounds of one clone."""
    return GitLimits(
        max_repo_bytes=docker.max_repo_bytes,
        timeout_s=docker.git_timeout_s,
        allow_private_hosts=docker.git_allow_private_hosts,
        ca_file=docker.git_ca_file,
    )
