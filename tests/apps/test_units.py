"""Pure units: layout names and paths, env files, Filebrowser credentials, where a published database is shown."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cloudfaster.apps.databases import published_host
from cloudfaster.apps.envfile import parse_env_file, render_env_file
from cloudfaster.apps.errors import LayoutError
from cloudfaster.apps.filebrowser import filebrowser_env, generate_credentials, hash_password, verify_password
from cloudfaster.apps.layout import ServiceLayout, project_name, validate_service_name
from cloudfaster.settings import DockerSettings


@pytest.mark.parametrize("bad", ["../x", "a/b", "a b", "$(id)", "a;b", "`x`", "", "x" * 61, "A\n", "ü"])
def test_project_name_rejects_unsafe_ids(bad: str) -> None:
    with pytest.raises(LayoutError):
        project_name(bad)


def test_project_name_is_derived_from_the_id() -> None:
    assert project_name(42) == "cf-42"
    assert project_name("3F2504E0-4F89-11D3") == "cf-3f2504e0-4f89-11d3"


@pytest.mark.parametrize(
    "bad", ["../etc", "a/b", "a\\b", "..", "x..y", "a;rm -rf", "$HOME", "a b", "-rf", ".hidden", ""]
)
def test_service_name_rejects_path_and_shell_characters(bad: str) -> None:
    with pytest.raises(LayoutError) as caught:
        validate_service_name(bad)
    assert caught.value.code == "service_name_invalid"


def test_service_name_accepts_plain_names() -> None:
    assert validate_service_name("my-site.v2_x") == "my-site.v2_x"


def test_layout_paths_and_creation(tmp_path: Path) -> None:
    layout = ServiceLayout.for_service(tmp_path, "user-1", "abc")
    assert layout.root == tmp_path.resolve() / "user-1" / "cf-abc"
    assert layout.compose_file.name == "docker-compose.yml"
    assert layout.env_file.name == ".env"
    layout.create(1000, 1000)
    for path in (layout.data_dir, layout.filebrowser_dir / "database", layout.filebrowser_dir / "config"):
        assert path.is_dir()
    if os.geteuid() == 0:
        assert (layout.data_dir.stat().st_uid, layout.data_dir.stat().st_gid) == (1000, 1000)
    with pytest.raises(LayoutError):
        ServiceLayout.for_service(tmp_path, "../other", "abc")


def test_write_files_is_confined_and_env_files_are_private(tmp_path: Path) -> None:
    layout = ServiceLayout.for_service(tmp_path, "u", "abc")
    layout.create(1000, 1000)
    layout.write_files({".env": "A=1\n", "nginx.conf": "x"})
    assert oct(layout.env_file.stat().st_mode & 0o777) == "0o600"
    with pytest.raises(LayoutError):
        layout.write_files({"../../escape.txt": "x"})
    assert not (tmp_path / "escape.txt").exists()


def test_env_file_round_trip() -> None:
    env = {"A": 'quote " and \\ backslash', "B": "$dollar ${X}", "C": "", "D": "plain"}
    assert parse_env_file(render_env_file(env)) == env


def test_filebrowser_credentials() -> None:
    credentials = generate_credentials()
    assert len(credentials.password) >= 12
    assert credentials.username != generate_credentials().username
    hashed = credentials.password_hash()
    assert verify_password(credentials.password, hashed)
    assert not verify_password("wrong-password-123", hashed)
    assert filebrowser_env(credentials.username, hashed)["FB_PASSWORD"] == hashed
    with pytest.raises(ValueError, match="bcrypt"):
        filebrowser_env("u", credentials.password)
    with pytest.raises(ValueError, match="12"):
        hash_password("short")


@pytest.mark.parametrize(
    ("bind_address", "public_base_url", "shown"),
    [
        ("127.0.0.1", "http://127.0.0.1", "127.0.0.1"),
        ("10.0.0.5", "https://cloud.example.org", "10.0.0.5"),
        ("0.0.0.0", "https://cloud.example.org", "cloud.example.org"),
        ("::", "https://[2001:db8::1]:8443", "2001:db8::1"),
    ],
)
def test_a_published_database_is_shown_where_a_client_reaches_it(
    bind_address: str, public_base_url: str, shown: str, tmp_path: Path
) -> None:
    docker = DockerSettings(base_path=tmp_path, bind_address=bind_address, public_base_url=public_base_url)
    assert published_host(docker) == shown
