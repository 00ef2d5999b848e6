"""Renders a service's docker-compose.yml (as a dict, then YAML) from the templates, plus its env files.

Every service gets its own network, a Filebrowser sidecar on ``data/``, dropped capabilities, no-new-privileges,
resource limits, a healthcheck, labels and a restart policy; ports are published on ``bind_address`` only.
Images, ports and healthchecks follow notes/docker-side.md §4.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml

from cloudfaster.apps import images
from cloudfaster.apps.envfile import render_env_file, validate_user_env
from cloudfaster.apps.filebrowser import FILEBROWSER_PORT, filebrowser_env
from cloudfaster.apps.layout import project_name, validate_owner
from cloudfaster.apps.macos import ensure_macos_available
from cloudfaster.apps.policy import check_policy
from cloudfaster.apps.schema import validate_compose_schema
from cloudfaster.apps.spec import (
    APP_TYPES,
    DatabaseCredentials,
    ResourceLimits,
    ServiceSpec,
    ServiceType,
)
from cloudfaster.compose.errors import TemplateError
from cloudfaster.settings import DockerSettings

PORT_APP = "app"
PORT_FILES = "files"
PORT_MACOS_SSH = "macos_ssh"
PORT_MACOS_VNC = "macos_vnc"

NETWORK = "svc"
TMP = "/tmp"  # noqa: S108 - a tmpfs inside the container
NPM_CACHE = f"{TMP}/.npm"
NODE_PORT = 3000
HTTP_PORT = 80
MYSQL_UID_GID = "999:999"  # mysql image's mysql user; its /var/lib/mysql is pre-owned, so no chown caps needed
POSTGRES_UID_GID = "70:70"  # postgres alpine image's postgres user (docker-library/postgres#907)

# App-facing variables CloudFaster sets; users may not override them.
RESERVED_ENV = frozenset(
    {
        "DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD", "DATABASE_URL",
        "MYSQL_HOST", "MYSQL_PORT", "MYSQL_DATABASE", "MYSQL_USER", "MYSQL_PASSWORD", "MYSQL_ROOT_PASSWORD",
        "POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_DB", "POSTGRES_USER", "POSTGRES_PASSWORD",
        "PORT", "NODE_ENV", "HOME", "BUILD_PATH", "npm_config_cache",
    }
)  # fmt: skip

NODE_START = (
    "if [ -f package.json ] && [ ! -d node_modules ]; then "
    "npm install --omit=dev --no-audit --no-fund || exit 1; fi; exec node ."
)
REACT_BUILD = (
    "if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; "
    "else npm install --no-audit --no-fund; fi && npm run build"
)
_BUILD_DIR = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*")


def required_port_names(types: Iterable[ServiceType | str]) -> list[str]:
    """The host ports (by name) a combination of types publishes; the caller allocates a number for each."""
    kinds = {ServiceType(t) for t in types}
    names: list[str] = []
    if kinds & APP_TYPES:
        names.append(PORT_APP)
    if ServiceType.MACOS in kinds:
        names += [PORT_MACOS_SSH, PORT_MACOS_VNC]
    names.append(PORT_FILES)
    return names


def service_urls(public_base_url: str, ports: Mapping[str, int]) -> dict[str, str]:
    """Public URLs of the HTTP ports (``app`` and ``files``) under the configured base URL."""
    base = urlsplit(public_base_url)
    host = base.hostname or "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    urls: dict[str, str] = {}
    for name in (PORT_APP, PORT_FILES):
        if name in ports:
            urls[name] = urlunsplit((base.scheme or "http", f"{host}:{ports[name]}", "/", "", ""))
    return urls


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


@dataclass(frozen=True)
class RenderedService:
    """A rendered service: the compose dict, the app's ``.env`` and other generated files (relative paths)."""

    compose: dict[str, Any]
    env: dict[str, str]
    files: dict[str, str] = field(default_factory=dict)

    def compose_yaml(self) -> str:
        """The compose file as YAML."""
        return yaml.safe_dump(self.compose, sort_keys=False, default_flow_style=False, width=120)

    def all_files(self) -> dict[str, str]:
        """Every file to write into the service directory, keyed by path relative to it."""
        return {"docker-compose.yml": self.compose_yaml(), ".env": render_env_file(self.env), **self.files}


def _duration(seconds: float) -> str:
    return f"{seconds:g}s"


def _limits(limits: ResourceLimits) -> dict[str, Any]:
    return {
        "resources": {"limits": {"cpus": f"{limits.cpus:.2f}", "memory": f"{limits.memory_mb}M", "pids": limits.pids}}
    }


class ComposeBuilder:
    """Renders compose projects from the templates, hardened and validated against the compose schema."""

    def __init__(self, settings: DockerSettings, image_overrides: Mapping[str, str] | None = None) -> None:
        self.settings = settings
        self.images = {**images.TEMPLATE_IMAGES, **(image_overrides or {})}

    def render(self, spec: ServiceSpec) -> RenderedService:
        """Render ``spec``; raises ``TemplateError`` (or a subclass) for anything that cannot be deployed."""
        self._check_spec(spec)
        files: dict[str, str] = {}
        services: dict[str, dict[str, Any]] = {}
        volumes: dict[str, dict[str, Any]] = {}
        env = self._app_env(spec)
        kinds = spec.types

        if ServiceType.STATIC in kinds:
            services["app"] = self._nginx(spec, ServiceType.STATIC, "/usr/share/nginx/html", "./data", spa=False)
            files["nginx.conf"] = nginx_config("/usr/share/nginx/html", spa=False)
        if ServiceType.REACT in kinds:
            root = f"/app/{spec.react_build_dir}"
            services["build"] = self._react_build(spec)
            services["app"] = self._nginx(spec, ServiceType.REACT, "/app", "./data", spa=True)
            services["app"]["depends_on"] = {"build": {"condition": "service_completed_successfully"}}
            files["nginx.conf"] = nginx_config(root, spa=True)
        if ServiceType.PHP in kinds:
            services["app"] = self._php(spec)
        if ServiceType.NODE in kinds:
            services["app"] = self._node(spec)
        if ServiceType.MYSQL in kinds:
            services["mysql"] = self._mysql(spec)
            volumes["mysql-data"] = {"labels": self._labels(spec, "mysql", "data")}
            files["mysql.env"] = render_env_file(self._mysql_env(self._db(spec)))
        if ServiceType.POSTGRES in kinds:
            services["postgres"] = self._postgres(spec)
            volumes["postgres-data"] = {"labels": self._labels(spec, "postgres", "data")}
            files["postgres.env"] = render_env_file(self._postgres_env(self._db(spec)))
        if ServiceType.MACOS in kinds:
            services["macos"] = self._macos(spec)
        if "app" in services:
            databases = [name for name in ("mysql", "postgres") if name in services]
            if databases:
                depends = services["app"].setdefault("depends_on", {})
                for name in databases:
                    depends[name] = {"condition": "service_healthy"}
        services["files"] = self._filebrowser(spec)
        files["filebrowser.env"] = render_env_file(
            filebrowser_env(spec.filebrowser_username, spec.filebrowser_password_hash)
        )

        compose: dict[str, Any] = {
            "name": spec.project,
            "services": services,
            "networks": {NETWORK: {"labels": self._labels(spec, "network", "network")}},
        }
        if volumes:
            compose["volumes"] = volumes
        check_policy(compose, self._host_ip(), allow_kvm=ServiceType.MACOS in kinds)
        validate_compose_schema(compose)
        return RenderedService(compose=compose, env=env, files=files)

    # --- checks -------------------------------------------------------------------------------------------------

    def _check_spec(self, spec: ServiceSpec) -> None:
        if not spec.types:
            raise TemplateError("no service types", code="service_types_invalid")
        if not spec.project.startswith("cf-") or project_name(spec.project.removeprefix("cf-")) != spec.project:
            raise TemplateError(f"project name {spec.project!r} is not one from layout.project_name")
        validate_owner(spec.owner)
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", spec.service_id):
            raise TemplateError(f"service id {spec.service_id!r} is not a plain identifier")
        missing = [name for name in required_port_names(spec.types) if name not in spec.ports]
        if missing:
            raise TemplateError(f"no host port allocated for {', '.join(missing)}", code="ports_missing")
        for name, port in spec.ports.items():
            if not 1 <= int(port) <= 65535:
                raise TemplateError(f"port {name}={port} is out of range", code="ports_invalid")
        if not _BUILD_DIR.fullmatch(spec.react_build_dir) or ".." in spec.react_build_dir:
            raise TemplateError(f"react build dir {spec.react_build_dir!r} is not a plain relative path")
        if ServiceType.MACOS in spec.types:
            ensure_macos_available(self.settings.macos_enabled, self.settings.kvm_device)

    def _db(self, spec: ServiceSpec) -> DatabaseCredentials:
        if spec.database is None:
            raise TemplateError("database types need DatabaseCredentials", code="database_credentials_missing")
        return spec.database

    # --- building blocks ----------------------------------------------------------------------------------------

    def _host_ip(self) -> str:
        address = self.settings.bind_address
        return f"[{address}]" if ":" in address else address

    def _port(self, spec: ServiceSpec, name: str, container_port: int) -> str:
        return f"{self._host_ip()}:{int(spec.ports[name])}:{container_port}"

    def _labels(self, spec: ServiceSpec, kind: str, role: str) -> dict[str, str]:
        return {
            "cloudfaster.managed": "true",
            "cloudfaster.owner": spec.owner,
            "cloudfaster.service-id": spec.service_id,
            "cloudfaster.kind": kind,
            "cloudfaster.role": role,
        }

    def _healthcheck(self, test: list[str], start_period_s: float = 30.0) -> dict[str, Any]:
        return {
            "test": test,
            "interval": _duration(self.settings.healthcheck_interval_s),
            "timeout": "5s",
            "retries": 5,
            "start_period": _duration(start_period_s),
        }

    def _base(
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
                "labels": self._labels(spec, kind, role),
                "logging": {"driver": "json-file", "options": {"max-size": "10m", "max-file": "3"}},
                "deploy": _limits(limits),
            }
        )
        return service

    def _user(self, spec: ServiceSpec) -> str:
        return f"{spec.run_as[0]}:{spec.run_as[1]}"

    def _http_probe(self, port: int, path: str = "/") -> list[str]:
        # No -f: an empty or index-less site answers 403/404 and is still alive (notes/docker-side.md §4).
        return ["CMD", "curl", "-sS", "-o", "/dev/null", f"http://127.0.0.1:{port}{path}"]

    # --- templates ----------------------------------------------------------------------------------------------

    def _nginx(self, spec: ServiceSpec, kind: ServiceType, mount: str, source: str, spa: bool) -> dict[str, Any]:
        service = self._base(spec, self.images["nginx"], kind.value, "app", spec.limits, self._user(spec))
        readonly = ":ro"
        service.update(
            {
                "read_only": True,
                "tmpfs": ["/var/cache/nginx", "/run", TMP],
                "volumes": [f"{source}:{mount}{readonly}", "./nginx.conf:/etc/nginx/conf.d/default.conf:ro"],
                "ports": [self._port(spec, PORT_APP, HTTP_PORT)],
                "healthcheck": self._healthcheck(self._http_probe(HTTP_PORT, "/healthz")),
            }
        )
        return service

    def _react_build(self, spec: ServiceSpec) -> dict[str, Any]:
        service = self._base(spec, self.images["node"], ServiceType.REACT.value, "build", spec.limits, None)
        service.update(
            {
                "user": self._user(spec),
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

    def _php(self, spec: ServiceSpec) -> dict[str, Any]:
        service = self._base(spec, self.images["php"], ServiceType.PHP.value, "app", spec.limits, self._user(spec))
        service.update(
            {
                # php:apache supports running as an arbitrary user (docker-library/docs php/content.md).
                "read_only": True,
                "tmpfs": [TMP, "/var/run/apache2", "/var/lock/apache2"],
                "volumes": ["./data:/var/www/html"],
                "env_file": [".env"],
                "ports": [self._port(spec, PORT_APP, HTTP_PORT)],
                "healthcheck": self._healthcheck(self._http_probe(HTTP_PORT)),
            }
        )
        return service

    def _node(self, spec: ServiceSpec) -> dict[str, Any]:
        service = self._base(spec, self.images["node"], ServiceType.NODE.value, "app", spec.limits, self._user(spec))
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
                "ports": [self._port(spec, PORT_APP, NODE_PORT)],
                "healthcheck": self._healthcheck(["CMD", "node", "-e", probe], start_period_s=120.0),
            }
        )
        return service

    def _mysql(self, spec: ServiceSpec) -> dict[str, Any]:
        limits = ResourceLimits(spec.limits.cpus, max(spec.limits.memory_mb, 512), max(spec.limits.pids, 256))
        service = self._base(spec, self.images["mysql"], "mysql", "database", limits, MYSQL_UID_GID)
        service.update(
            {
                "env_file": ["mysql.env"],
                "volumes": ["mysql-data:/var/lib/mysql"],
                "stop_grace_period": "30s",
                # mysqladmin ping stays false while the init-time server runs with --skip-networking
                # (docker-library/mysql docker-entrypoint.sh).
                "healthcheck": self._healthcheck(
                    ["CMD", "mysqladmin", "ping", "-h", "127.0.0.1", "--silent"], start_period_s=120.0
                ),
            }
        )
        return service

    def _postgres(self, spec: ServiceSpec) -> dict[str, Any]:
        limits = ResourceLimits(spec.limits.cpus, max(spec.limits.memory_mb, 256), max(spec.limits.pids, 256))
        service = self._base(spec, self.images["postgres"], "postgres", "database", limits, POSTGRES_UID_GID)
        service.update(
            {
                "env_file": ["postgres.env"],
                # Postgres 18+ keeps PGDATA under /var/lib/postgresql/18/docker; mount the parent.
                "volumes": ["postgres-data:/var/lib/postgresql"],
                "shm_size": "256mb",
                "stop_grace_period": "30s",
                "healthcheck": self._healthcheck(
                    ["CMD-SHELL", 'pg_isready -q -h 127.0.0.1 -U "$$POSTGRES_USER" -d "$$POSTGRES_DB"'],
                    start_period_s=60.0,
                ),
            }
        )
        return service

    def _filebrowser(self, spec: ServiceSpec) -> dict[str, Any]:
        limits = ResourceLimits(cpus=0.25, memory_mb=128, pids=64)
        service = self._base(spec, self.settings.filebrowser_image, "filebrowser", "files", limits, self._user(spec))
        service.update(
            {
                "read_only": True,
                "tmpfs": [TMP],
                "volumes": ["./data:/srv", "./filebrowser/database:/database", "./filebrowser/config:/config"],
                "env_file": ["filebrowser.env"],
                "ports": [self._port(spec, PORT_FILES, FILEBROWSER_PORT)],
                "healthcheck": self._healthcheck(
                    ["CMD", "wget", "-q", "--spider", f"http://127.0.0.1:{FILEBROWSER_PORT}/health"]
                ),
            }
        )
        return service

    def _macos(self, spec: ServiceSpec) -> dict[str, Any]:
        kvm = ensure_macos_available(self.settings.macos_enabled, self.settings.kvm_device)
        ram_gb = spec.limits.memory_mb // 1024 - 1  # leave 1 GB for QEMU itself, or it gets OOM-killed
        if ram_gb < 2:
            raise TemplateError("macOS needs memory_mb of at least 3072", code="limits_invalid")
        cpus = max(1, int(spec.limits.cpus))
        service = self._base(spec, self.settings.macos_image, "macos", "app", spec.limits, None)
        service.update(
            {
                "devices": [f"{self.settings.kvm_device}:/dev/kvm"],
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
                "ports": [self._port(spec, PORT_MACOS_SSH, 10022), self._port(spec, PORT_MACOS_VNC, 5900)],
                "stop_grace_period": "2m",
                "healthcheck": self._healthcheck(
                    ["CMD-SHELL", "grep -qs qemu-system /proc/[0-9]*/cmdline"], start_period_s=600.0
                ),
            }
        )
        return service

    # --- environment ----------------------------------------------------------------------------------------

    def _app_env(self, spec: ServiceSpec) -> dict[str, str]:
        env: dict[str, str] = {}
        db = spec.database
        if ServiceType.MYSQL in spec.types and db is not None:
            env.update(
                {
                    "MYSQL_HOST": "mysql",
                    "MYSQL_PORT": "3306",
                    "MYSQL_DATABASE": db.name,
                    "MYSQL_USER": db.user,
                    "MYSQL_PASSWORD": db.password,
                }
            )
        if ServiceType.POSTGRES in spec.types and db is not None:
            env.update(
                {
                    "POSTGRES_HOST": "postgres",
                    "POSTGRES_PORT": "5432",
                    "POSTGRES_DB": db.name,
                    "POSTGRES_USER": db.user,
                    "POSTGRES_PASSWORD": db.password,
                }
            )
        if db is not None and spec.types & {ServiceType.MYSQL, ServiceType.POSTGRES}:
            primary = "mysql" if ServiceType.MYSQL in spec.types else "postgres"
            port = "3306" if primary == "mysql" else "5432"
            scheme = "mysql" if primary == "mysql" else "postgresql"
            env.update(
                {
                    "DB_HOST": primary,
                    "DB_PORT": port,
                    "DB_NAME": db.name,
                    "DB_USER": db.user,
                    "DB_PASSWORD": db.password,
                    "DATABASE_URL": f"{scheme}://{db.user}:{db.password}@{primary}:{port}/{db.name}",
                }
            )
        env.update(validate_user_env(spec.env, RESERVED_ENV))
        return env

    @staticmethod
    def _mysql_env(db: DatabaseCredentials) -> dict[str, str]:
        return {
            "MYSQL_ROOT_PASSWORD": db.root_password,
            "MYSQL_DATABASE": db.name,
            "MYSQL_USER": db.user,
            "MYSQL_PASSWORD": db.password,
        }

    @staticmethod
    def _postgres_env(db: DatabaseCredentials) -> dict[str, str]:
        return {"POSTGRES_PASSWORD": db.password, "POSTGRES_USER": db.user, "POSTGRES_DB": db.name}
