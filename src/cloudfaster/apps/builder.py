"""Renders a service's docker-compose.yml (as a dict, then YAML) from the templates (``templates``), plus its env
files, and checks the result against our policy and the Compose Specification schema.

Every service gets its own network, a Filebrowser sidecar on ``data/``, dropped capabilities, no-new-privileges,
resource limits, a healthcheck, labels and a restart policy; ports are published on ``bind_address`` only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from cloudfaster.apps import compose_yaml
from cloudfaster.apps.envfile import render_env_file, validate_user_env
from cloudfaster.apps.errors import TemplateError
from cloudfaster.apps.filebrowser import filebrowser_env
from cloudfaster.apps.layout import project_name, validate_owner
from cloudfaster.apps.macos import ensure_macos_available
from cloudfaster.apps.policy import check_policy
from cloudfaster.apps.schema import validate_compose_schema
from cloudfaster.apps.spec import (
    APP_TYPES,
    DatabaseCredentials,
    ServiceSpec,
    ServiceType,
)
from cloudfaster.apps.templates import (
    NETWORK,
    PORT_APP,
    PORT_FILES,
    PORT_MACOS_SSH,
    PORT_MACOS_VNC,
    TemplateConfig,
    Templates,
    nginx_config,
)

# App-facing variables CloudFaster sets; users may not override them.
RESERVED_ENV = frozenset(
    {
        "DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD", "DATABASE_URL",
        "MYSQL_HOST", "MYSQL_PORT", "MYSQL_DATABASE", "MYSQL_USER", "MYSQL_PASSWORD", "MYSQL_ROOT_PASSWORD",
        "POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_DB", "POSTGRES_USER", "POSTGRES_PASSWORD",
        "PORT", "NODE_ENV", "HOME", "BUILD_PATH", "npm_config_cache",
    }
)  # fmt: skip

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


@dataclass(frozen=True)
class RenderedService:
    """A rendered service: the compose dict, the app's ``.env`` and other generated files (relative paths)."""

    compose: dict[str, Any]
    env: dict[str, str]
    files: dict[str, str] = field(default_factory=dict)

    def compose_yaml(self) -> str:
        """The compose file as YAML."""
        return compose_yaml.dump(self.compose)

    def all_files(self) -> dict[str, str]:
        """Every file to write into the service directory, keyed by path relative to it."""
        return {"docker-compose.yml": self.compose_yaml(), ".env": render_env_file(self.env), **self.files}


class ComposeBuilder:
    """Renders compose projects from the templates, hardened and validated against the compose schema."""

    def __init__(self, config: TemplateConfig, image_overrides: Mapping[str, str] | None = None) -> None:
        self.config = config
        self.templates = Templates(config, image_overrides)

    def render(self, spec: ServiceSpec) -> RenderedService:
        """Render ``spec``; raises ``TemplateError`` (or a subclass) for anything that cannot be deployed."""
        self._check_spec(spec)
        files: dict[str, str] = {}
        services: dict[str, dict[str, Any]] = {}
        volumes: dict[str, dict[str, Any]] = {}
        env = self._app_env(spec)
        kinds = spec.types
        t = self.templates

        if ServiceType.STATIC in kinds:
            services["app"] = t.nginx(spec, ServiceType.STATIC, "/usr/share/nginx/html", "./data", spa=False)
            files["nginx.conf"] = nginx_config("/usr/share/nginx/html", spa=False)
        if ServiceType.REACT in kinds:
            root = f"/app/{spec.react_build_dir}"
            services["build"] = t.react_build(spec)
            services["app"] = t.nginx(spec, ServiceType.REACT, "/app", "./data", spa=True)
            services["app"]["depends_on"] = {"build": {"condition": "service_completed_successfully"}}
            files["nginx.conf"] = nginx_config(root, spa=True)
        if ServiceType.PHP in kinds:
            services["app"] = t.php(spec)
        if ServiceType.NODE in kinds:
            services["app"] = t.node(spec)
        if ServiceType.MYSQL in kinds:
            services["mysql"] = t.mysql(spec)
            volumes["mysql-data"] = {"labels": t.labels(spec, "mysql", "data")}
            files["mysql.env"] = render_env_file(self._mysql_env(self._db(spec)))
        if ServiceType.POSTGRES in kinds:
            services["postgres"] = t.postgres(spec)
            volumes["postgres-data"] = {"labels": t.labels(spec, "postgres", "data")}
            files["postgres.env"] = render_env_file(self._postgres_env(self._db(spec)))
        if ServiceType.MACOS in kinds:
            services["macos"] = t.macos(spec)
        if "app" in services:
            databases = [name for name in ("mysql", "postgres") if name in services]
            if databases:
                depends = services["app"].setdefault("depends_on", {})
                for name in databases:
                    depends[name] = {"condition": "service_healthy"}
        services["files"] = t.filebrowser(spec)
        files["filebrowser.env"] = render_env_file(
            filebrowser_env(spec.filebrowser_username, spec.filebrowser_password_hash)
        )

        compose: dict[str, Any] = {
            "name": spec.project,
            "services": services,
            "networks": {NETWORK: {"labels": t.labels(spec, "network", "network")}},
        }
        if volumes:
            compose["volumes"] = volumes
        check_policy(compose, t.host_ip(), allow_kvm=ServiceType.MACOS in kinds)
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
            ensure_macos_available(self.config.macos_enabled, self.config.kvm_device)

    def _db(self, spec: ServiceSpec) -> DatabaseCredentials:
        if spec.database is None:
            raise TemplateError("database types need DatabaseCredentials", code="database_credentials_missing")
        return spec.database

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
