"""The reconcile loop in a worker process: a VM removed by hand in Proxmox is marked missing; a service container
removed or stopped by hand is marked (report) or brought back (restart), per ``DOCKER__RECONCILE_ACTION``."""

from __future__ import annotations

import asyncio
import subprocess
import time
from typing import Any

import pytest
from pvesim.testing import PveSim

from tests.scale.client import (
    ADMIN,
    Replicas,
    call,
    create_service,
    create_vms,
    new_user,
    operation_id,
    replicas,
    wait_ops,
)
from tests.scale.conftest import ClusterFactory
from tests.scale.figures import record

pytestmark = [pytest.mark.slow, pytest.mark.docker, pytest.mark.mysql]


def container_of(project: str, service: str) -> str:
    """The id of a compose service's container."""
    out = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={project}",
         "--filter", f"label=com.docker.compose.service={service}"],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout.split()  # fmt: skip
    assert len(out) == 1, out
    return out[0]


def docker(*argv: str) -> None:
    """Run a docker command by hand, as an operator would."""
    subprocess.run(["docker", *argv], capture_output=True, timeout=60, check=True)


async def until(api: Replicas, url: str, check: Any, timeout_s: float = 30) -> dict[str, Any]:
    """GET ``url`` until ``check(body)`` holds; returns the body."""
    deadline = time.monotonic() + timeout_s
    while True:
        body: dict[str, Any] = (await call(api, "GET", url, headers=ADMIN)).json()
        if check(body):
            return body
        assert time.monotonic() < deadline, f"{url} never matched: {body}"
        await asyncio.sleep(0.3)


def app_state(body: dict[str, Any]) -> set[tuple[str, str]]:
    """(compose service, state) of a service's containers as GET /service/{id} shows them."""
    return {(c["service"], c["state"]) for c in body.get("containers") or []}


def drift_of(body: dict[str, Any]) -> dict[str, Any]:
    """The drift the last reconcile pass recorded on a service (empty when none)."""
    return dict((body["status_detail"] or {}).get("reconcile") or {})


def drift_names(drift: dict[str, Any]) -> list[str]:
    """The compose services a drift names, removed or down."""
    return sorted({*drift.get("removed", []), *(entry.split(":")[0] for entry in drift.get("down", []))})


@pytest.mark.parametrize("action", ["report", "restart"])
async def test_reconcile_marks_or_repairs_drift(
    make_cluster: ClusterFactory, sim: PveSim, docker_namespace: str, action: str
) -> None:
    with make_cluster(
        "redis", apis=1, workers=1,
        docker={"reconcile_interval_s": 1, "reconcile_action": action}, proxmox={"reconcile_interval_s": 1},
    ) as cluster:  # fmt: skip
        api = replicas(cluster)
        try:
            alice = await new_user(api, "alice")
            vms = await create_vms(api, [alice], 2, "rc")
            services = [await create_service(api, alice, f"rc-{n}") for n in range(2)]
            await wait_ops(api, [*vms, *(operation_id(r) for r in services)], timeout_s=120)
            removed_vm, kept_vm = list(vms.values())
            gone, stopped = (r.json()["id"] for r in services)

            sim.call(lambda: sim.cluster.vms.pop(removed_vm))
            docker("rm", "-f", container_of(f"cf-{docker_namespace}{gone}", "app"))
            docker("stop", container_of(f"cf-{docker_namespace}{stopped}", "app"))
            changed_at = time.monotonic()

            vm = await until(api, f"/vm/{removed_vm}", lambda b: b["status"] == "missing")
            assert (await call(api, "GET", f"/vm/{kept_vm}", headers=ADMIN)).json()["status"] == "enabled"
            if action == "report":
                # A pass may catch a container while Docker is still removing or stopping it: wait for what
                # the pass after it sees.
                first = await until(api, f"/service/{gone}", lambda b: drift_of(b).get("removed") == ["app"])
                second = await until(api, f"/service/{stopped}", lambda b: drift_of(b).get("down") == ["app: exited"])
                assert first["status"] == second["status"] == "degraded"
                assert first["status_detail"]["reconcile"]["removed"] == ["app"]
                assert second["status_detail"]["reconcile"]["down"] == ["app: exited"]
                assert app_state(second) == {("app", "exited"), ("files", "running")}
            else:

                def repaired(b: dict[str, Any]) -> bool:
                    detail = (b["status_detail"] or {}).get("reconcile") or {}
                    return b["status"] == "running" and "repaired" in detail

                first = await until(api, f"/service/{gone}", repaired)
                second = await until(api, f"/service/{stopped}", repaired)
                # The pass that repaired it saw the container gone, or (caught mid-removal) not running.
                assert drift_names(first["status_detail"]["reconcile"]["repaired"]) == ["app"]
                assert second["status_detail"]["reconcile"]["repaired"]["down"] == ["app: exited"]
                for body in (first, second):
                    assert app_state(body) == {("app", "running"), ("files", "running")}
            record(f"reconcile[{action}]", noticed_within_s=time.monotonic() - changed_at, vm=vm["status"],
                   services=[first["status"], second["status"]])  # fmt: skip
        finally:
            for client in api.clients:
                await client.aclose()
