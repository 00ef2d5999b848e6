"""Two API replicas and two workers on MariaDB and a real broker: 40 VM creates and 10 service creates spread over
both replicas all succeed, each exactly once."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest
from pvesim.testing import PveSim

from cloudfaster.db.engine import Database
from tests.scale.client import (
    compose_projects,
    create_service,
    create_vm,
    new_user,
    operation_id,
    operations,
    our_services,
    our_vms,
    replicas,
    sim_vms,
    wait_ops,
)
from tests.scale.conftest import ClusterFactory
from tests.scale.figures import record

pytestmark = [pytest.mark.slow, pytest.mark.docker, pytest.mark.mysql]

VMS = 40
SERVICES = 10


async def test_forty_vms_and_ten_services_through_two_replicas_and_two_workers(
    make_cluster: ClusterFactory, broker: str, sim: PveSim, mariadb_url: str, docker_namespace: str
) -> None:
    with make_cluster(broker) as cluster:
        api = replicas(cluster)
        db = Database(mariadb_url)
        try:
            users = [await new_user(api, f"user{i}") for i in range(4)]
            started = time.monotonic()
            vm_calls = [create_vm(api, users[n % 4], f"vm-{n}") for n in range(VMS)]
            svc_calls = [create_service(api, users[n % 4], f"site-{n}") for n in range(SERVICES)]
            responses = await asyncio.gather(*vm_calls, *svc_calls)
            ops = await wait_ops(api, [operation_id(r) for r in responses], timeout_s=240)
            elapsed = time.monotonic() - started

            failed = {o["id"]: o["error"] for o in ops.values() if o["state"] != "succeeded"}
            assert not failed, f"{failed}\n{cluster.logs()}"
            rows = await operations(db)
            # Exactly once: every create ran in one attempt, and each operation belongs to one target.
            assert [(o.kind, o.attempt) for o in rows if o.attempt != 1] == []
            assert Counter(o.kind for o in rows) == {"vm.create": VMS, "service.create": SERVICES}

            vmids = [r.json()["vmid"] for r in responses[:VMS]]
            assert len(set(vmids)) == VMS
            in_pve = sim_vms(sim)
            assert sorted(in_pve) == sorted(vmids)
            ours = await our_vms(db)
            assert sorted(ours) == sorted(vmids)
            assert {vm.status for vm in ours.values()} == {"enabled"}
            assert all(ours[vmid].node == node for vmid, node in in_pve.items())

            services = await our_services(db)
            assert len(services) == SERVICES
            assert {s.status for s in services} == {"running"}
            projects = compose_projects("cf-" + docker_namespace)
            assert sorted(projects) == sorted(f"cf-{docker_namespace}{s.id}" for s in services)
            assert set(projects.values()) == {2}  # the site and its Filebrowser, once each

            # Both workers took part, and between them started each operation once.
            per_worker = {w.name: w.log_text().count(") attempt 1 started") for w in cluster.workers}
            assert sum(per_worker.values()) == VMS + SERVICES, per_worker
            assert all(per_worker.values()), per_worker
            record(
                f"scale-out[{broker}]",
                operations=len(rows),
                seconds=elapsed,
                ops_per_s=len(rows) / elapsed,
                per_worker=per_worker,
            )
            assert all(w.alive for w in cluster.workers)
        finally:
            await api.aclose()
            await db.dispose()
