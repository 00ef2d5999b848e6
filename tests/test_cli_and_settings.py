"""Settings from the environment and .env, and the command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cloudfaster.settings import Settings

REPO = Path(__file__).resolve().parents[2]


def run_cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDFASTER_")}
    clean["XDG_DATA_HOME"] = str(cwd / "xdg")  # the default data directory, kept out of the real home
    return subprocess.run(
        [sys.executable, "-m", "cloudfaster.cli", *args],
        env=clean | env, cwd=cwd, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_nested_environment_and_dotenv(tmp_path: Path, monkeypatch: object) -> None:
    (tmp_path / ".env").write_text("CLOUDFASTER_DOCKER__BIND_ADDRESS=127.0.0.2\nCLOUDFASTER_QUOTAS__MAX_VMS=3\n")
    env = {
        "CLOUDFASTER_PROXMOX__NODES": '[{"name": "sv1", "host": "10.0.0.1"}]',
        "CLOUDFASTER_PROXMOX__TOKEN_SECRET": "s3cret",
        "CLOUDFASTER_QUOTAS__MAX_VMS": "7",
    }
    old = dict(os.environ)
    try:
        os.environ.update(env)
        settings = Settings(_env_file=tmp_path / ".env")
    finally:
        os.environ.clear()
        os.environ.update(old)
    assert settings.proxmox.nodes[0].name == "sv1"
    assert settings.quotas.max_vms == 7  # the environment wins over .env
    assert settings.docker.bind_address == "127.0.0.2"
    assert "s3cret" not in repr(settings)
    assert settings.proxmox.token_secret.get_secret_value() == "s3cret"


def test_bad_setting_stops_with_one_clear_line(tmp_path: Path) -> None:
    result = run_cli(
        "db", "upgrade",
        env={"CLOUDFASTER_WORKER__LEASE_S": "-5", "CLOUDFASTER_ADMIN_API_KEY": "x"},
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == ["cloudfaster: invalid setting CLOUDFASTER_WORKER__LEASE_S: Input should be greater than 0"]


def test_bad_database_url_never_echoes_the_secret(tmp_path: Path) -> None:
    result = run_cli("db", "upgrade", env={"CLOUDFASTER_DATABASE_URL": "oracle://u:topsecret@h/db"}, cwd=tmp_path)
    assert result.returncode == 2
    assert "CLOUDFASTER_DATABASE_URL" in result.stderr
    assert "topsecret" not in result.stderr + result.stdout


def test_db_upgrade_and_key_creation(tmp_path: Path) -> None:
    env = {"CLOUDFASTER_DATA_DIR": str(tmp_path / "data")}
    upgraded = run_cli("db", "upgrade", env=env, cwd=tmp_path)
    assert upgraded.returncode == 0, upgraded.stderr
    assert (tmp_path / "data" / "cloudfaster.db").exists()
    admin = run_cli("keys", "create", "--admin", env=env, cwd=tmp_path)
    assert admin.returncode == 0, admin.stderr
    token = admin.stdout.strip()
    assert token.startswith("cf_")
    assert len(token) > 40
    missing = run_cli("keys", "create", "--user", "nobody", env=env, cwd=tmp_path)
    assert missing.returncode != 0
    assert "no user 'nobody'" in missing.stderr


async def test_a_new_data_directory_and_its_files_are_private(tmp_path: Path) -> None:
    import stat

    from cloudfaster.instance import build_instance

    data = tmp_path / "fresh" / "data"
    settings = Settings(_env_file=None, data_dir=data, logging={"console_format": "plain"})
    async with build_instance(settings).running():
        pass
    modes = {
        path.relative_to(data).as_posix(): stat.S_IMODE(path.stat().st_mode)
        for path in [data, *data.rglob("*")]
        if path.is_dir() or path.name.startswith(("cloudfaster.", "audit."))
    }
    assert modes["."] == 0o700
    assert modes["logs"] == 0o700
    assert modes["cloudfaster.db"] == 0o600
    assert modes["logs/cloudfaster.jsonl"] == 0o600
    assert modes["logs/audit.jsonl"] == 0o600
    assert all(mode & 0o077 == 0 for name, mode in modes.items() if not name.startswith("services")), modes


async def test_an_existing_data_directory_open_to_others_is_warned_about(tmp_path: Path) -> None:
    from cloudfaster.instance import build_instance

    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    settings = Settings(_env_file=None, data_dir=data, logging={"console_format": "plain"})
    async with build_instance(settings).running():
        pass
    log = (data / "logs" / "cloudfaster.jsonl").read_text()
    assert "open to other local users (mode 0755)" in log
    assert f"chmod 700 {data}" in log


def test_help_is_plain_text_and_names_the_default_data_directory(tmp_path: Path) -> None:
    result = run_cli("--help", env={}, cwd=tmp_path)
    assert result.returncode == 0
    assert "``" not in result.stdout
    assert "CloudFaster" in result.stdout
    assert str(tmp_path / "xdg" / "cloudfaster") in result.stdout.replace("\n", "")


def test_the_default_data_directory_does_not_depend_on_the_working_directory(tmp_path: Path) -> None:
    here, there = tmp_path / "here", tmp_path / "there"
    here.mkdir()
    there.mkdir()
    env = {"XDG_DATA_HOME": str(tmp_path / "xdg")}
    old = dict(os.environ)
    try:
        os.environ.update(env)
        os.chdir(here)
        first = Settings(_env_file=None)
        os.chdir(there)
        second = Settings(_env_file=None)
    finally:
        os.chdir(REPO)
        os.environ.clear()
        os.environ.update(old)
    assert first.data_dir == second.data_dir == tmp_path / "xdg" / "cloudfaster"
    assert first.effective_database_url == second.effective_database_url


def test_keys_create_refuses_to_make_a_new_database_and_says_which_it_looked_for(tmp_path: Path) -> None:
    data = tmp_path / "elsewhere"
    result = run_cli("keys", "create", "--user", "alice", env={"CLOUDFASTER_DATA_DIR": str(data)}, cwd=tmp_path)
    assert result.returncode != 0
    assert f"there is no CloudFaster database at sqlite+aiosqlite:///{data}/cloudfaster.db" in result.stderr
    assert "no user" not in result.stderr
    assert not data.exists()
    assert not (tmp_path / "cloudfaster-data").exists()
    assert result.stdout == ""


def test_management_commands_say_which_database_they_use(tmp_path: Path) -> None:
    env = {"CLOUDFASTER_DATA_DIR": str(tmp_path / "data")}
    assert run_cli("db", "upgrade", env=env, cwd=tmp_path).returncode == 0
    created = run_cli("keys", "create", "--admin", env=env, cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    assert f"database: sqlite+aiosqlite:///{tmp_path / 'data'}/cloudfaster.db" in created.stderr
    assert created.stdout.strip().startswith("cf_")  # stdout holds only the key
