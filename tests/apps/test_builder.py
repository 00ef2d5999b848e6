"""ComposeBuilder: every template renders a hardened file that passes the compose schema and `docker compose config`."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from cloudfaster.apps import publishing
from cloudfaster.apps.builder import ComposeBuilder, required_port_names, service_urls
from cloudfaster.apps.config import template_config
from cloudfaster.apps.errors import SchemaError, TemplateError
from cloudfaster.apps.filebrowser import generate_credentials
from cloudfaster.apps.images import TEMPLATE_IMAGES
from cloudfaster.apps.layout import ServiceLayout
from cloudfaster.apps.policy import check_policy
from cloudfaster.apps.schema import schema_errors, validate_compose_schema
from cloudfaster.apps.spec import (
    DatabaseCredentials,
    ResourceLimits,
    ServiceSpec,
    ServiceType,
    parse_service_types,
)
from cloudfaster.compose.client import ComposeClient
from cloudfaster.compose.protocol import ComposeProject
from cloudfaster.settings import DockerSettings
from tests.compose.support import standin_tags

COMBINATIONS = [
    ["static"],
    ["php"],
    ["node"],
    ["react"],
    ["mysql"],
    ["postgres"],
    ["php", "mysql"],
    ["node", "postgres"],
    ["static", "mysql", "postgres"],
    ["macos"],
]
PASSWORD_HASH = generate_credentials().password_hash()


def make_spec(types: list[str], **overrides: Any) -> ServiceSpec:
    kinds = parse_service_types(types)
    values: dict[str, Any] = {
        "project": "cf-abc123",
        "owner": "u42",
        "service_id": "abc123",
        "types": kinds,
        "ports": {name: 21000 + i for i, name in enumerate(required_port_names(kinds))},
        "filebrowser_username": "fb-user",
        "filebrowser_password_hash": PASSWORD_HASH,
        "database": DatabaseCredentials.generate(),
        "limits": ResourceLimits(cpus=1.0, memory_mb=4096, pids=256),
    }
    values.update(overrides)
    return ServiceSpec(**values)


@pytest.fixture
def settings(tmp_path: Path) -> DockerSettings:
    # /dev/null is a character device on every machine: it stands in for /dev/kvm when only rendering.
    return DockerSettings(base_path=tmp_path, macos_enabled=True, kvm_device=Path("/dev/null"))


@pytest.mark.parametrize("types", COMBINATIONS, ids=["+".join(t) for t in COMBINATIONS])
def test_every_template_passes_schema_and_hardening(settings: DockerSettings, types: list[str]) -> None:
    rendered = ComposeBuilder(template_config(settings)).render(make_spec(types))
    compose = rendered.compose

    assert schema_errors(compose) == []
    assert compose["name"] == "cf-abc123"
    assert compose["networks"] == {
        "svc": {
            "labels": compose["services"]["files"]["labels"]
            | {"cloudfaster.kind": "network", "cloudfaster.role": "network"}
        }
    }
    for name, service in compose["services"].items():
        assert service["cap_drop"] == ["ALL"], name
        assert service["security_opt"] == ["no-new-privileges:true"], name
        assert service["networks"] == ["svc"], name
        assert "healthcheck" in service, name
        assert set(service["deploy"]["resources"]["limits"]) == {"cpus", "memory", "pids"}, name
        assert "privileged" not in service, name
        assert "network_mode" not in service, name
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), port
        if service["image"] != settings.macos_image:
            assert not service["user"].startswith("0:"), name
    assert compose["services"]["files"]["image"] == "filebrowser/filebrowser:v2.63.23"
    published = sorted(int(p.split(":")[1]) for s in compose["services"].values() for p in s.get("ports", []))
    assert published == sorted(make_spec(types).ports.values())


def test_php_mysql_wires_app_to_database_through_env_and_network(settings: DockerSettings) -> None:
    spec = make_spec(["php", "mysql"])
    assert spec.database is not None
    rendered = ComposeBuilder(template_config(settings)).render(spec)
    app, db = rendered.compose["services"]["app"], rendered.compose["services"]["mysql"]

    assert app["env_file"] == [".env"]
    assert app["depends_on"] == {"mysql": {"condition": "service_healthy"}}
    assert rendered.env["DB_HOST"] == "mysql"
    assert rendered.env["DB_PORT"] == "3306"
    assert rendered.env["DB_PASSWORD"] == spec.database.password
    assert rendered.env["DATABASE_URL"] == (
        f"mysql://{spec.database.user}:{spec.database.password}@mysql:3306/{spec.database.name}"
    )
    assert "MYSQL_ROOT_PASSWORD" not in rendered.env
    assert f'MYSQL_ROOT_PASSWORD="{spec.database.root_password}"' in rendered.files["mysql.env"]
    assert db["env_file"] == ["mysql.env"]
    assert "ports" not in db
    assert rendered.compose["volumes"]["mysql-data"]["labels"]["cloudfaster.kind"] == "mysql"


def test_filebrowser_gets_a_bcrypt_hash_not_the_password(settings: DockerSettings) -> None:
    credentials = generate_credentials()
    spec = make_spec(
        ["static"], filebrowser_username=credentials.username, filebrowser_password_hash=credentials.password_hash()
    )
    rendered = ComposeBuilder(template_config(settings)).render(spec)
    everything = rendered.compose_yaml() + "".join(rendered.files.values())

    assert credentials.password not in everything
    assert f'FB_USERNAME="{credentials.username}"' in rendered.files["filebrowser.env"]
    assert 'FB_PASSWORD="\\$2b\\$' in rendered.files["filebrowser.env"]
    assert rendered.compose["services"]["files"]["volumes"][0] == "./data:/srv"


def test_required_port_names_and_urls() -> None:
    assert required_port_names(["static"]) == ["app", "files"]
    assert required_port_names(["mysql"]) == ["files"]
    assert required_port_names(["macos"]) == ["macos_ssh", "macos_vnc", "files"]
    assert service_urls("https://svc.example.com/", {"app": 20001, "files": 20002, "macos_ssh": 3}) == {
        "app": "https://svc.example.com:20001/",
        "files": "https://svc.example.com:20002/",
    }


@pytest.mark.parametrize(
    ("types", "code"),
    [
        (["static", "cobol"], "service_types_invalid"),
        ([], "service_types_invalid"),
        (["php", "node"], "service_types_incompatible"),
        (["macos", "mysql"], "service_types_incompatible"),
    ],
)
def test_bad_type_combinations_are_rejected(types: list[str], code: str) -> None:
    with pytest.raises(TemplateError) as caught:
        parse_service_types(types)
    assert caught.value.code == code


def test_missing_port_is_rejected(settings: DockerSettings) -> None:
    with pytest.raises(TemplateError) as caught:
        ComposeBuilder(template_config(settings)).render(make_spec(["static"], ports={"files": 21000}))
    assert caught.value.code == "ports_missing"


@pytest.mark.parametrize(
    "env",
    [
        {"COMPOSE_FILE": "/etc/x.yml"},
        {"DOCKER_HOST": "tcp://x"},
        {"DB_PASSWORD": "x"},
        {"1BAD": "x"},
        {"OK": "two\nlines"},
        {"A-B": "x"},
    ],
)
def test_unsafe_user_environment_is_rejected(settings: DockerSettings, env: dict[str, str]) -> None:
    with pytest.raises(TemplateError) as caught:
        ComposeBuilder(template_config(settings)).render(make_spec(["node"], env=env))
    assert caught.value.code == "env_invalid"


def test_macos_disabled_and_missing_kvm_are_clear(tmp_path: Path) -> None:
    disabled = DockerSettings(base_path=tmp_path, macos_enabled=False)
    with pytest.raises(TemplateError) as caught:
        ComposeBuilder(template_config(disabled)).render(make_spec(["macos"]))
    assert caught.value.code == "macos_disabled"

    no_kvm = DockerSettings(base_path=tmp_path, macos_enabled=True, kvm_device=tmp_path / "kvm")
    with pytest.raises(TemplateError) as caught:
        ComposeBuilder(template_config(no_kvm)).render(make_spec(["macos"]))
    assert caught.value.code == "kvm_unavailable"
    assert f"{tmp_path / 'kvm'} is missing" in caught.value.message

    (tmp_path / "kvm").write_text("")
    with pytest.raises(TemplateError, match="not a character device"):
        ComposeBuilder(template_config(no_kvm)).render(make_spec(["macos"]))


def test_macos_maps_only_kvm_and_sizes_ram_below_the_limit(settings: DockerSettings) -> None:
    service = ComposeBuilder(template_config(settings)).render(make_spec(["macos"])).compose["services"]["macos"]
    assert service["devices"] == ["/dev/null:/dev/kvm"]
    assert service["environment"]["RAM"] == "3"
    with pytest.raises(TemplateError):
        ComposeBuilder(template_config(settings)).render(make_spec(["macos"], limits=ResourceLimits(memory_mb=2048)))


def test_schema_validator_rejects_unknown_keys(settings: DockerSettings) -> None:
    compose = copy.deepcopy(ComposeBuilder(template_config(settings)).render(make_spec(["static"])).compose)
    compose["services"]["app"]["portz"] = ["1:1"]
    with pytest.raises(SchemaError) as caught:
        validate_compose_schema(compose)
    assert any("'portz'" in error for error in caught.value.errors)


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("privileged", True, "privileged is not allowed"),
        ("network_mode", "host", "network_mode is not allowed"),
        ("cap_add", ["SYS_ADMIN"], "SYS_ADMIN"),
        ("volumes", ["/var/run/docker.sock:/var/run/docker.sock"], "bind mount source"),
        ("ports", ["0.0.0.0:80:80"], "not bound to 127.0.0.1"),
        ("devices", ["/dev/kvm:/dev/kvm"], "device"),
        ("cap_drop", [], "must drop all capabilities"),
    ],
)
def test_policy_rejects_tampered_services(settings: DockerSettings, key: str, value: object, fragment: str) -> None:
    compose = copy.deepcopy(ComposeBuilder(template_config(settings)).render(make_spec(["static"])).compose)
    compose["services"]["app"][key] = value
    with pytest.raises(TemplateError, match=fragment) as caught:
        check_policy(compose, "127.0.0.1")
    assert caught.value.code == "compose_policy_violation"


def test_standin_list_matches_template_images() -> None:
    tags = set(standin_tags())
    assert set(TEMPLATE_IMAGES.values()) | {DockerSettings().filebrowser_image} == tags


@pytest.mark.docker
@pytest.mark.parametrize("types", COMBINATIONS, ids=["+".join(t) for t in COMBINATIONS])
async def test_docker_compose_config_accepts_every_template(settings: DockerSettings, types: list[str]) -> None:
    spec = make_spec(types)
    layout = ServiceLayout.for_service(settings.base_path or Path("."), spec.owner, spec.service_id)
    layout.create(1000, 1000)
    layout.write_files(ComposeBuilder(template_config(settings)).render(spec).all_files())

    model = await ComposeClient(settings.compose_command).config(ComposeProject(layout.project, layout.compose_file))

    expected = {"files"} | (
        {"app"} if spec.types & {ServiceType.STATIC, ServiceType.PHP, ServiceType.NODE, ServiceType.REACT} else set()
    )
    assert expected <= set(model["services"])
    assert model["name"] == "cf-abc123"
    if spec.database and ServiceType.MYSQL in spec.types:
        # the password arrives through mysql.env literally
        assert model["services"]["mysql"]["environment"]["MYSQL_PASSWORD"] == spec.database.password


@pytest.mark.docker
async def test_env_values_reach_compose_literally(settings: DockerSettings) -> None:
    tricky = {"PRICE": "$HOME and ${USER} cost $$5", "QUOTE": 'say "hi" \\n it\'s', "EMPTY": ""}
    spec = make_spec(["node"], env=tricky)
    layout = ServiceLayout.for_service(settings.base_path or Path("."), spec.owner, spec.service_id)
    layout.create(1000, 1000)
    layout.write_files(ComposeBuilder(template_config(settings)).render(spec).all_files())

    model = await ComposeClient(settings.compose_command).config(ComposeProject(layout.project, layout.compose_file))

    environment = model["services"]["app"]["environment"]
    # `config` prints the model re-escaped for interpolation ($ as $$); undo that to compare.
    assert {k: environment[k].replace("$$", "$") for k in tricky} == tricky


@pytest.mark.parametrize("engine", ["mysql", "postgres"])
def test_a_published_database_is_on_the_bind_address_only_and_unpublished_again(
    settings: DockerSettings, tmp_path: Path, engine: str
) -> None:
    builder = ComposeBuilder(template_config(settings))
    spec = make_spec(["php", engine])
    plain = builder.render(spec).compose
    assert "ports" not in plain["services"][engine]  # off by default

    published = builder.render(make_spec(["php", engine], ports={**spec.ports, engine: 24242})).compose
    inner = 3306 if engine == "mysql" else 5432
    assert published["services"][engine]["ports"] == [f"127.0.0.1:24242:{inner}"]
    check_policy(published, "127.0.0.1")
    assert schema_errors(published) == []

    # What a later publish and unpublish write into the rendered file: the same as a fresh render.
    layout = ServiceLayout(root=tmp_path / "svc", project="cf-abc123")
    layout.root.mkdir()
    layout.write_files({"docker-compose.yml": builder.render(spec).compose_yaml()})
    assert publishing.rewrite_compose(layout, builder.templates, {engine: 24242}) == [engine]
    assert yaml.safe_load(layout.compose_file.read_text()) == published
    assert publishing.rewrite_compose(layout, builder.templates, {}) == []
    assert yaml.safe_load(layout.compose_file.read_text()) == plain
