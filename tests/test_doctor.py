"""``cloudfaster doctor`` against pvesim (over HTTPS, through proxmoxer) and the real Docker Engine with the stand-in
images (``--offline``): all ok with a fully privileged token; failing, with the fix, for a token lacking a
privilege, a template without cloud-init drive, a missing storage, an unreachable Engine or a missing image; the
reverse proxy against a real Caddy."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pvesim.config import DEFAULT_OS, SimConfig, TemplateSpec, TokenSpec
from pvesim.permissions import ALL_PRIVILEGES
from pvesim.testing import PveSim, start_pvesim

from cloudfaster.cli import main
from cloudfaster.doctor import DoctorOptions, Report, Status, run_doctor
from cloudfaster.settings import Settings
from tests.apps.support import remove_projects
from tests.proxy.support import start_caddy
from tests.vms.conftest import proxmox_settings


def full_cluster(*tokens: TokenSpec) -> SimConfig:
    """sv1…sv5 with every OS's template on every node, zero-length tasks."""
    config = SimConfig.fast()
    config.templates = [
        TemplateSpec(os=os_name, node=node.name, vmid=9000 + 10 * i + j)
        for i, node in enumerate(config.nodes)
        for j, os_name in enumerate(DEFAULT_OS)
    ]
    if tokens:
        config.tokens = list(tokens)
    return config


@pytest.fixture
def sim() -> Iterator[PveSim]:
    with start_pvesim(full_cluster()) as running:
        yield running


@pytest.fixture
def namespace() -> Iterator[str]:
    """A compose project namespace of the test's own; whatever doctor left is removed afterwards."""
    value = "t" + secrets.token_hex(4) + "-"
    yield value
    remove_projects(f"cf-{value}")


def settings_for(sim: PveSim, tmp_path: Path, *, proxmox: dict[str, Any] | None = None, **docker: Any) -> Settings:
    values = {"base_path": tmp_path / "services", "healthcheck_interval_s": 0.5, "up_timeout_s": 60, **docker}
    return Settings(_env_file=None, data_dir=tmp_path, proxmox=proxmox_settings(sim, **(proxmox or {})), docker=values)


def by_name(report: Report) -> dict[str, Any]:
    return {check.name: check for check in report.checks}


PROXMOX_ONLY = DoctorOptions(areas=("proxmox",))


@pytest.mark.docker
def test_fully_privileged_token_and_stand_in_images_are_all_ok(
    request: pytest.FixtureRequest,
    sim: PveSim,
    tmp_path: Path,
    namespace: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    caddy = start_caddy(tmp_path / "caddy")
    request.addfinalizer(caddy.kill)
    env = {
        "CLOUDFASTER_PROXY__ADMIN_URL": caddy.admin_url,
        "CLOUDFASTER_PROXY__APPS_DOMAIN": "apps.test",
        "CLOUDFASTER_DATA_DIR": str(tmp_path),
        "CLOUDFASTER_PROXMOX__NODES": json.dumps(
            [{"name": n, "host": sim.host, "port": sim.port} for n in sim.cluster.nodes]
        ),
        "CLOUDFASTER_PROXMOX__TOKEN_ID": sim.token_id,
        "CLOUDFASTER_PROXMOX__TOKEN_SECRET": sim.token_secret,
        "CLOUDFASTER_PROXMOX__CA_FILE": str(sim.ca_file),
        "CLOUDFASTER_DOCKER__PROJECT_NAMESPACE": namespace,
        "CLOUDFASTER_DOCKER__HEALTHCHECK_INTERVAL_S": "0.5",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as exited:
        main(["doctor", "--offline", "--json"])
    assert exited.value.code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True
    statuses = {check["name"]: check["status"] for check in report["checks"]}
    assert set(statuses.values()) == {"ok"}, report
    assert {"proxmox.api", "proxmox.nodes", "proxmox.permissions", "proxmox.storage.local-lvm"} <= set(statuses)
    assert {f"proxmox.template.{os_name}" for os_name in DEFAULT_OS} <= set(statuses)
    assert {"docker.engine", "docker.compose"} <= set(statuses)
    assert {f"docker.template.{t}" for t in ("static", "php", "node", "mysql", "postgres")} <= set(statuses)
    assert "proxy.caddy" in statuses
    assert sim.token_secret not in json.dumps(report)

    with pytest.raises(SystemExit) as exited:
        main(["doctor", "--only", "proxmox"])
    assert exited.value.code == 0
    table = capsys.readouterr().out
    assert "proxmox.permissions" in table
    assert "ready" in table


async def test_a_token_lacking_a_privilege_fails_with_the_fix(tmp_path: Path) -> None:
    user_acl = {"/": [p for p in ALL_PRIVILEGES if p != "VM.Console"]}
    token = TokenSpec(
        user="cf@pve", name="doctor", secret="s-1", privsep=True, user_acl=user_acl, acl={"/": list(ALL_PRIVILEGES)}
    )
    with start_pvesim(full_cluster(token)) as sim:
        report = await run_doctor(settings_for(sim, tmp_path), PROXMOX_ONLY)
    check = by_name(report)["proxmox.permissions"]
    assert check.status == Status.FAILING
    assert "VM.Console on /vms" in check.detail
    assert "VM.Clone" not in check.detail
    assert "pveum acl modify / --tokens 'cf@pve!doctor' --roles CloudFaster" in check.fix
    assert "VM.Console" in check.fix
    assert report.exit_code == 1
    assert "s-1" not in report.render_json()


async def test_privileges_only_on_the_token_do_not_count_under_privsep(tmp_path: Path) -> None:
    token = TokenSpec(user="cf@pve", name="doctor", secret="s-1", privsep=True, acl={"/": list(ALL_PRIVILEGES)})
    with start_pvesim(full_cluster(token)) as sim:
        report = await run_doctor(settings_for(sim, tmp_path), PROXMOX_ONLY)
    check = by_name(report)["proxmox.permissions"]
    assert check.status == Status.FAILING
    assert "VM.Allocate on /vms" in check.detail
    assert "Datastore.AllocateSpace on /storage/local-lvm" in check.detail


async def test_templates_without_cloudinit_or_agent_and_missing_ones(sim: PveSim, tmp_path: Path) -> None:
    def vmid(os_name: str, node: str) -> int:
        return next(v.vmid for v in sim.cluster.templates() if v.name == f"tpl-{os_name}" and v.node == node)

    no_drive, no_agent, gone = vmid("debian-12", "sv2"), vmid("rocky-9", "sv1"), vmid("ubuntu-24.04", "sv5")
    sim.call(lambda: sim.cluster.vms[no_drive].config.pop("ide2"))
    sim.call(lambda: sim.cluster.vms[no_agent].config.update(agent="0"))
    sim.call(lambda: sim.cluster.vms.pop(gone))
    report = await run_doctor(settings_for(sim, tmp_path), PROXMOX_ONLY)
    checks = by_name(report)
    debian, rocky, ubuntu = (checks[f"proxmox.template.{o}"] for o in ("debian-12", "rocky-9", "ubuntu-24.04"))
    assert debian.status == Status.FAILING
    assert f"sv2/{no_drive}" in debian.detail
    assert "cloudinit" in debian.fix
    assert rocky.status == Status.WARNING
    assert f"sv1/{no_agent}" in rocky.detail
    assert "--agent enabled=1" in rocky.fix
    assert ubuntu.status == Status.WARNING
    assert "missing on sv5" in ubuntu.detail
    assert checks["proxmox.template.debian-13"].status == Status.OK
    assert report.exit_code == 1


async def test_a_missing_template_everywhere_and_a_missing_storage_fail(sim: PveSim, tmp_path: Path) -> None:
    proxmox = {"storage": "fast-nvme", "templates": {"debian-12": "tpl-debian-12", "arch": "tpl-arch"}}
    report = await run_doctor(settings_for(sim, tmp_path, proxmox=proxmox), PROXMOX_ONLY)
    checks = by_name(report)
    assert checks["proxmox.template.arch"].status == Status.FAILING
    assert "qm template" in checks["proxmox.template.arch"].fix
    storage = checks["proxmox.storage.fast-nvme"]
    assert storage.status == Status.FAILING
    assert "sv1: not there" in storage.detail
    assert "CLOUDFASTER_PROXMOX__STORAGE" in storage.fix
    assert "Datastore.AllocateSpace" not in checks["proxmox.permissions"].detail  # root holds it everywhere


async def test_a_wrong_secret_fails_the_connection_and_stops_there(sim: PveSim, tmp_path: Path) -> None:
    report = await run_doctor(settings_for(sim, tmp_path, proxmox={"token_secret": "wrong"}), PROXMOX_ONLY)
    assert [(c.name, c.status) for c in report.checks] == [("proxmox.api", Status.FAILING)]
    assert "TOKEN_SECRET" in report.checks[0].fix
    assert "wrong" not in report.render_json()


async def test_the_sandbox_is_a_warning(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path)
    report = await run_doctor(settings, PROXMOX_ONLY)
    assert [(c.name, c.status) for c in report.checks] == [("proxmox.api", Status.WARNING)]
    assert "CLOUDFASTER_PROXMOX__NODES" in report.checks[0].fix
    assert report.exit_code == 0


async def test_an_unreachable_engine_fails_with_the_fix(sim: PveSim, tmp_path: Path) -> None:
    settings = settings_for(sim, tmp_path, docker_host=f"unix://{tmp_path}/no-docker.sock")
    report = await run_doctor(settings, DoctorOptions(areas=("docker",)))
    assert [(c.name, c.status) for c in report.checks] == [("docker.engine", Status.FAILING)]
    assert "CLOUDFASTER_DOCKER__DOCKER_HOST" in report.checks[0].fix


@pytest.mark.docker
async def test_an_image_missing_offline_fails(sim: PveSim, tmp_path: Path, namespace: str) -> None:
    settings = settings_for(
        sim, tmp_path, project_namespace=namespace, filebrowser_image="cloudfaster-doctor/absent:none"
    )
    options = DoctorOptions(areas=("docker",), offline=True, templates=(DoctorOptions().templates[0],))
    report = await run_doctor(settings, options)
    check = by_name(report)["docker.template.static"]
    assert check.status == Status.FAILING
    assert "cloudfaster-doctor/absent:none" in check.detail
    assert "without --offline" in check.fix


async def test_the_reverse_proxy_is_checked_against_a_real_caddy(tmp_path: Path) -> None:
    base = Settings(_env_file=None, data_dir=tmp_path)
    unset = await run_doctor(base, DoctorOptions(areas=("proxy",)))
    assert [(c.name, c.status) for c in unset.checks] == [("proxy.caddy", Status.WARNING)]
    assert "CLOUDFASTER_PROXY__ADMIN_URL" in unset.checks[0].fix

    caddy = start_caddy(tmp_path / "caddy")
    try:
        proxy = {"admin_url": caddy.admin_url, "apps_domain": "apps.test"}
        settings = Settings(_env_file=None, data_dir=tmp_path, proxy=proxy)
        running = await run_doctor(settings, DoctorOptions(areas=("proxy",)))
        assert [(c.name, c.status) for c in running.checks] == [("proxy.caddy", Status.OK)]
        assert caddy.admin_url in running.checks[0].detail
    finally:
        caddy.kill()
    stopped = await run_doctor(settings, DoctorOptions(areas=("proxy",)))
    assert [(c.name, c.status) for c in stopped.checks] == [("proxy.caddy", Status.FAILING)]
    assert "systemctl start caddy" in stopped.checks[0].fix
    assert stopped.exit_code == 1
