"""The service templates: one hardened compose service per type (nginx for static and React sites, php:apache,
node, MySQL, PostgreSQL, Docker-OSX) and the Filebrowser sidecar, built from shared blocks (labels, limits,
healthchecks, ports bound to ``bind_address`` only). Images, ports and healthchecks follow notes/docker-side.md §4.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cloudfaster.apps import images
from cloudfaster.apps.errors import TemplateError
from cloudfaster.apps.filebrowser import FILEBROWSER_PORT
from cloudfaster.apps.macos import ensure_macos_available
from cloudfaster.apps.spec import ResourceLimits, ServiceSpec, ServiceType

PORT_APP = "app"
PORT_FILES = "files"
PORT_MACOS_SSH = "macos_ssh"
PORT_MACOS_VNC = "macos_vnc"
# A database's port inside the service's network; its host port, named after the engine, exists only while the
# owner publishes it for a desktop client (apps.publishing).
DATABASE_PORTS = {"mysql": 3306, "postgres": 5432}

NETWORK = "svc"
TMP = "/tmp"  # noqa: S108 - a tmpfs inside the container
NPM_CACHE = f"{TMP}/.npm"
NODE_PORT = 3000
HTTP_PORT = 80
MYSQL_UID_GID = "999:999"  # mysql image's mysql user; its /var/lib/mysql is pre-owned, so no chown caps needed
POSTGRES_UID_GID = "70:70"  # postgres alpine image's postgres user (docker-library/postgres#907)

NODE_START = (
    "if [ -f package.json ] && [ ! -d node_modules ]; then "
    "npm install --omit=dev --no-audit --no-fund || exit 1; fi; exec node ."
)
REACT_BUILD = (
    "if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; "
    "else npm install --no-audit --no-fund; fi && npm run build"
)


@dataclass(frozen=True)
class TemplateConfig:
    """What the templates take from the configuration."""

    bind_address: str = "127.0.0.1"
    healthcheck_interval_s: float = 5.0
    filebrowser_image: str = "filebrowser/filebrowser:v2.63.23"
    macos_enabled: bool = False
    macos_image: str = "sickcodes/docker-osx:latest"
    kvm_device: Path = Path("/dev/kvm")


def nginx_config(root: str, spa: bool) -> str:
    """The nginx server block for static and React sites: healthz, no dotfiles, optional SPA fallback."""
    fallback = "/index.html" if spa else "=404"
    return (
        "server {\n"
        f"    listen {HTTP_PORT};\n"
        "    server_name _;\n"
        f"    root {root};\n"
        "    index index.html index.htm;\n"
        '    location = /healthz { access_log off; default_type text/plain; return 200 "ok\\n"; }\n'
        "    location ~ /\\. { deny all; }\n"
        f"    location / {{ try_files $uri $uri/ {fallback}; }}\n"
        "}\n"
    )


def _duration(seconds: float) -> str:
    return f"{seconds:g}s"


def _limits(limits: ResourceLimits) -> dict[str, Any]:
    return {
        "resources": {"limits": {"cpus": f"{limits.cpus:.2f}", "memory": f"{limits.memory_mb}M", "pids": limits.pids}}
    }


class Templates:
    """Builds each compose service of a spec; ``image_overrides`` replace template images by key."""

    def __init__(self, config: TemplateConfig, image_overrides: Mapping[str, str] | None = None) -> None:
        self.config = config
        self.images = {**images.TEMPLATE_IMAGES, **(image_overrides or {})}

    # --- building blocks ----------------------------------------------------------------------------------------

    def host_ip(self) -> str:
        address = self.config.bind_address
        return f"[{address}]" if ":" in address else address

    def port(self, spec: ServiceSpec, name: str, container_port: int) -> str:
        return f"{self.host_ip()}:{int(spec.ports[name])}:{container_port}"

    def published(self, engine: str, host_port: int) -> list[str]:
        """The ``ports`` of a database published on the bind address."""
        return [f"{self.host_ip()}:{int(host_port)}:{DATABASE_PORTS[engine]}"]

    def labels(self, spec: ServiceSpec, kind: str, role: str) -> dict[str, str]:
        return {
            "cloudfaster.managed": "true",
            "cloudfaster.owner": spec.owner,
            "cloudfaster.service-id": spec.service_id,
            "cloudfaster.kind": kind,
            "cloudfaster.role": role,
        }

    def healthcheck(self, test: list[str], start_period_s: float = 30.0) -> dict[str, Any]:
        return {
            "test": test,
            "interval": _duration(self.config.healthcheck_interval_s),
            "timeout": "5s",
            "retries": 5,
            "start_period": _duration(start_period_s),
        }

    def base(
        self, spec: ServiceSpec, image: str, kind: str, role: str, limits: ResourceLimits, user: str | None
    ) -> dict[str, Any]:
        service: dict[str, Any] = {"image": image}
        if user is not None:
            service["user"] = user
        service.update(
            {
                "init": True,
                "restart": "unless-stopped",
                "cap_drop": ["ALL"],
                "security_opt": ["no-new-privileges:true"],
                "networks": [NETWORK],
                "labels": self.labels(spec, kind, role),
                "logging": {"driver": "json-file", "options": {"max-size": "10m", "max-file": "3"}},
                "deploy": _limits(limits),
            }
        )
        return service

    def user(self, spec: ServiceSpec) -> str:
        return f"{spec.run_as[0]}:{spec.run_as[1]}"

    def http_probe(self, port: int, path: str = "/") -> list[str]:
        # No -f: an empty or index-less site answers 403/404 and is still alive (notes/docker-side.md §4).
        return ["CMD", "curl", "-sS", "-o", "/dev/null", f"http://127.0.0.1:{port}{path}"]

    # --- templates ----------------------------------------------------------------------------------------------

    def nginx(self, spec: ServiceSpec, kind: ServiceType, mount: str, source: str, spa: bool) -> dict[str, Any]:
        service = self.base(spec, self.images["nginx"], kind.value, "app", spec.limits, self.user(spec))
        readonly = ":ro"
        service.update(
            {
                "read_only": True,
                "tmpfs": ["/var/cache/nginx", "/run", TMP],
                "volumes": [f"{source}:{mount}{readonly}", "./nginx.conf:/etc/nginx/conf.d/default.conf:ro"],
                "ports": [self.port(spec, PORT_APP, HTTP_PORT)],
                "healthcheck": self.healthcheck(self.http_probe(HTTP_PORT, "/healthz")),
            }
        )
        return service

    def react_build(self, spec: ServiceSpec) -> dict[str, Any]:
        service = self.base(spec, self.images["node"], ServiceType.REACT.value, "build", spec.limits, None)
        service.update(
            {
                "user": self.user(spec),
                "restart": "no",
                "read_only": True,
                "tmpfs": [TMP],
                "working_dir": "/app",
                "volumes": ["./data:/app"],
                "env_file": [".env"],
                "environment": {"BUILD_PATH": spec.react_build_dir, "HOME": TMP, "npm_config_cache": NPM_CACHE},
                "command": ["sh", "-c", REACT_BUILD],
                "healthcheck": {"disable": True},
            }
        )
        return service

    def php(self, spec: ServiceSpec) -> dict[str, Any]:
        service = self.base(spec, self.images["php"], ServiceType.PHP.value, "app", spec.limits, self.user(spec))
        service.update(
            {
                # php:apache supports running as an arbitrary user (docker-library/docs php/content.md).
                "read_only": True,
                "tmpfs": [TMP, "/var/run/apache2", "/var/lock/apache2"],
                "volumes": ["./data:/var/www/html"],
                "env_file": [".env"],
                "ports": [self.port(spec, PORT_APP, HTTP_PORT)],
                "healthcheck": self.healthcheck(self.http_probe(HTTP_PORT)),
            }
        )
        return service

    def node(self, spec: ServiceSpec) -> dict[str, Any]:
        service = self.base(spec, self.images["node"], ServiceType.NODE.value, "app", spec.limits, self.user(spec))
        probe = f"fetch('http://127.0.0.1:{NODE_PORT}/').then(() => process.exit(0), () => process.exit(1))"
        service.update(
            {
                "read_only": True,
                "tmpfs": [TMP],
                "working_dir": "/app",
                "volumes": ["./data:/app"],
                "env_file": [".env"],
                "environment": {
                    "NODE_ENV": "production",
                    "PORT": str(NODE_PORT),
                    "HOME": TMP,
                    "npm_config_cache": NPM_CACHE,
                },
                # `node .` rather than `npm start`, which swallows signals (nodejs/docker-node BestPractices.md).
                "command": ["sh", "-c", NODE_START],
                "ports": [self.port(spec, PORT_APP, NODE_PORT)],
                "healthcheck": self.healthcheck(["CMD", "node", "-e", probe], start_period_s=120.0),
            }
        )
        return service

    def mysql(self, spec: ServiceSpec) -> dict[str, Any]:
        limits = ResourceLimits(spec.limits.cpus, max(spec.limits.memory_mb, 512), max(spec.limits.pids, 256))
        service = self.base(spec, self.images["mysql"], "mysql", "database", limits, MYSQL_UID_GID)
        service.update(
            {
                "env_file": ["mysql.env"],
                "volumes": ["mysql-data:/var/lib/mysql"],
                "stop_grace_period": "30s",
                # mysqladmin ping stays false while the init-time server runs with --skip-networking
                # (docker-library/mysql docker-entrypoint.sh).
                "healthcheck": self.healthcheck(
                    ["CMD", "mysqladmin", "ping", "-h", "127.0.0.1", "--silent"], start_period_s=120.0
                ),
            }
        )
        if "mysql" in spec.ports:
            service["ports"] = self.published("mysql", spec.ports["mysql"])
        return service

    def postgres(self, spec: ServiceSpec) -> dict[str, Any]:
        limits = ResourceLimits(spec.limits.cpus, max(spec.limits.memory_mb, 256), max(spec.limits.pids, 256))
        service = self.base(spec, self.images["postgres"], "postgres", "database", limits, POSTGRES_UID_GID)
        service.update(
            {
                "env_file": ["postgres.env"],
                # Postgres 18+ keeps PGDATA under /var/lib/postgresql/18/docker; mount the parent.
                "volumes": ["postgres-data:/var/lib/postgresql"],
                "shm_size": "256mb",
                "stop_grace_period": "30s",
                "healthcheck": self.healthcheck(
                    ["CMD-SHELL", 'pg_isready -q -h 127.0.0.1 -U "$$POSTGRES_USER" -d "$$POSTGRES_DB"'],
                    start_period_s=60.0,
                ),
            }
        )
        if "postgres" in spec.ports:
            service["ports"] = self.published("postgres", spec.ports["postgres"])
        return service

    def filebrowser(self, spec: ServiceSpec) -> dict[str, Any]:
        limits = ResourceLimits(cpus=0.25, memory_mb=128, pids=64)
        service = self.base(spec, self.config.filebrowser_image, "filebrowser", "files", limits, self.user(spec))
        service.update(
            {
                "read_only": True,
                "tmpfs": [TMP],
                "volumes": ["./data:/srv", "./filebrowser/database:/database", "./filebrowser/config:/config"],
                "env_file": ["filebrowser.env"],
                "ports": [self.port(spec, PORT_FILES, FILEBROWSER_PORT)],
                "healthcheck": self.healthcheck(
                    ["CMD", "wget", "-q", "--spider", f"http://127.0.0.1:{FILEBROWSER_PORT}/health"]
                ),
            }
        )
        return service

    def macos(self, spec: ServiceSpec) -> dict[str, Any]:
        kvm = ensure_macos_available(self.config.macos_enabled, self.config.kvm_device)
        ram_gb = spec.limits.memory_mb // 1024 - 1  # leave 1 GB for QEMU itself, or it gets OOM-killed
        if ram_gb < 2:
            raise TemplateError("macOS needs memory_mb of at least 3072", code="limits_invalid")
        cpus = max(1, int(spec.limits.cpus))
        service = self.base(spec, self.config.macos_image, "macos", "app", spec.limits, None)
        service.update(
            {
                "devices": [f"{self.config.kvm_device}:/dev/kvm"],
                # QEMU runs as `arch` and cannot sudo-chown /dev/kvm under no-new-privileges (Docker-OSX Launch.sh).
                "group_add": [str(kvm.gid)] if kvm.gid is not None else [],
                "stdin_open": True,
                "environment": {
                    "RAM": str(ram_gb),
                    "SMP": str(cpus),
                    "CORES": str(cpus),
                    "GENERATE_UNIQUE": "true",
                    # Map syntax keeps the value unquoted (sickcodes/Docker-OSX#751).
                    "EXTRA": "-display none",
                },
                "ports": [self.port(spec, PORT_MACOS_SSH, 10022), self.port(spec, PORT_MACOS_VNC, 5900)],
                "stop_grace_period": "2m",
                "healthcheck": self.healthcheck(
                    ["CMD-SHELL", "grep -qs qemu-system /proc/[0-9]*/cmdline"], start_period_s=600.0
                ),
            }
        )
        return service
