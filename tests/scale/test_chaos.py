"""Chaos on a running cluster (2 API replicas, 2 workers, MariaDB, a real broker, pvesim): each test breaks one
part under load, checks that every operation still ends once and correctly, and records how long recovery took."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from pvesim.testing import PveSim

from cloudfaster.db.engine import Database
from cloudfaster.db.models import Operation
from tests.scale import outages
from tests.scale.client import (
    ADMIN,
    Replicas,
    assert_exactly_once,
    call,
    create_vms,
    new_user,
    operations,
    poll_db,
    replicas,
    sim_task_count,
    wait_ops,
)
from tests.scale.conftest import ClusterFactory
from tests.scale.figures import record
from tests.scale.private_mariadb import available, private_mariadb
from tests.support.rig import port_open, require

pytestmark = [pytest.mark.slow, pytest.mark.mysql]


def cloning(rows: list[Operation]) -> list[Operation]:
    """Operations whose clone task is running now (UPID saved, clone step not done)."""
    return [
        o
        for o in rows
        if o.state == "running"
        and any(k.startswith("clone_upid@") for k in o.checkpoints)
        and not any(k.startswith("clone@") for k in o.checkpoints)
    ]


async def all_succeeded(api: Replicas, op_ids: list[str], timeout_s: float = 120) -> None:
    """Wait for the operations; every one must have succeeded."""
    ops = await wait_ops(api, op_ids, timeout_s=timeout_s)
    failed = {o["id"]: (o["error"], o["steps"][-3:]) for o in ops.values() if o["state"] != "succeeded"}
    assert not failed, json.dumps(failed, indent=1)


async def test_kill_9_of_a_worker_mid_clone_finishes_on_the_other(make_cluster: ClusterFactory, sim: PveSim) -> None:
    sim.set_task_duration("qmclone", 3.0)
    with make_cluster("rabbitmq") as cluster:
        api, db = replicas(cluster), Database(cluster.settings["database_url"])
        try:
            users = [await new_user(api, "alice"), await new_user(api, "bob")]
            created = await create_vms(api, users, 6, "kill")
            rows = await poll_db(db, "a clone in progress", cloning)
            victim_pid = int(str(cloning(rows)[0].lease_owner).split(":")[1])
            [victim] = [w for w in cluster.workers if w.popen.pid == victim_pid]
            [survivor] = [w for w in cluster.workers if w is not victim]
            held = {
                o.id for o in await operations(db) if o.state == "running" and f":{victim_pid}:" in str(o.lease_owner)
            }
            cluster.kill(victim)
            killed_at = time.monotonic()
            await wait_ops(api, sorted(held))
            recovered_s = time.monotonic() - killed_at
            await all_succeeded(api, list(created))

            by_id = {o.id: o for o in await operations(db)}
            assert {by_id[i].attempt for i in held} == {2}
            assert {by_id[i].attempt for i in set(created) - held} == {1}
            log = survivor.log_text()
            assert all(f"operation {i} (vm.create) attempt 2 started" in log for i in held)
            # One clone task per VM: the resumed attempts polled the saved UPIDs instead of cloning again.
            assert sim_task_count(sim, "qmclone") == len(created)
            await assert_exactly_once(db, sim, created)
            record("chaos kill -9 worker mid-clone", ops_affected=len(held), ops_total=len(created),
                   recover_s=recovered_s, clone_s=3.0)  # fmt: skip
        finally:
            await api.aclose()
            await db.dispose()


@pytest.mark.parametrize("broker_name", ["rabbitmq", "redis"])
async def test_broker_restart_under_load_loses_nothing(
    make_cluster: ClusterFactory, sim: PveSim, broker_name: str
) -> None:
    require(port_open(outages.PORTS[broker_name]), f"{broker_name} on 127.0.0.1")
    sim.set_task_duration("qmclone", 1.0)
    with make_cluster(broker_name) as cluster, outages.restored(broker_name):
        api, db = replicas(cluster), Database(cluster.settings["database_url"])
        try:
            users = [await new_user(api, "alice"), await new_user(api, "bob")]
            before = await create_vms(api, users, 8, "before")
            outages.stop_broker(broker_name)
            stopped_at = time.monotonic()
            during = await create_vms(api, users, 8, "during")  # accepted: rows committed, dispatch fails
            await asyncio.sleep(max(0.0, 3 - (time.monotonic() - stopped_at)))
            outages.start_broker(broker_name)
            back_at = time.monotonic()
            down_s = back_at - stopped_at
            after = await create_vms(api, users, 8, "after")
            await all_succeeded(api, list(during))
            recovered_s = time.monotonic() - back_at
            created = {**before, **during, **after}
            await all_succeeded(api, list(created))

            rows = await operations(db)
            assert len(rows) == len(created)
            assert sim_task_count(sim, "qmclone") == len(created)
            await assert_exactly_once(db, sim, created)
            assert all(w.alive for w in cluster.workers), cluster.logs()
            record(f"chaos {broker_name} restart under load", broker_down_s=down_s, ops_accepted_while_down=len(during),
                   all_done_after_restart_s=recovered_s, ops_total=len(created),
                   retried_ops=sum(1 for o in rows if o.attempt > 1))  # fmt: skip
        finally:
            await api.aclose()
            await db.dispose()


async def test_database_restart_under_load(make_cluster: ClusterFactory, sim: PveSim) -> None:
    require(available(), "mariadbd and mariadb-install-db")
    sim.set_task_duration("qmclone", 2.0)
    with private_mariadb() as server, make_cluster("rabbitmq", database_url=server.url) as cluster:
        api, db = replicas(cluster), Database(server.url)
        try:
            users = [await new_user(api, "alice"), await new_user(api, "bob")]
            created = await create_vms(api, users, 10, "db")
            await poll_db(db, "clones in progress", lambda rows: len(cloning(rows)) >= 2)
            await db.dispose()
            server.kill()
            killed_at = time.monotonic()
            answers: list[int] = []
            codes: set[str] = set()
            while time.monotonic() - killed_at < 6:
                for client in api.clients:
                    resp = await client.get(f"/operations/{next(iter(created))}", headers=ADMIN)
                    answers.append(resp.status_code)
                    if resp.status_code == 503:
                        codes.add(resp.json()["error"]["code"])
                await asyncio.sleep(0.2)
            assert set(answers) == {503}, answers
            assert codes == {"database_unavailable"}
            server.start()
            restarted_at = time.monotonic()
            while (await api.next().get("/operations", headers=ADMIN)).status_code != 200:
                assert time.monotonic() - restarted_at < 60, "the API did not recover"
                await asyncio.sleep(0.1)
            api_back_s = time.monotonic() - restarted_at
            await all_succeeded(api, list(created), timeout_s=120)
            done_s = time.monotonic() - restarted_at

            rows = await operations(db)
            assert len(rows) == len(created)
            await assert_exactly_once(db, sim, created)
            # A database outage is not a failure of the operation: nothing was cleaned up and cloned again.
            assert sim_task_count(sim, "qmdestroy") == 0
            assert sim_task_count(sim, "qmclone") == len(created)
            assert len(cluster.workers) == 2, cluster.logs()
            assert len(cluster.apis) == 2, cluster.logs()
            record("chaos database restart under load", db_down_s=restarted_at - killed_at,
                   api_503_answers=len(answers), api_back_after_s=api_back_s, all_done_after_s=done_s,
                   ops_total=len(created), retried_ops=sum(1 for o in rows if o.attempt > 1))  # fmt: skip
        finally:
            await api.aclose()
            await db.dispose()


async def test_proxmox_node_offline_mid_create_fails_over(make_cluster: ClusterFactory, sim: PveSim) -> None:
    sim.set_task_duration("qmclone", 2.0)
    with make_cluster("rabbitmq") as cluster:
        api, db = replicas(cluster), Database(cluster.settings["database_url"])
        try:
            users = [await new_user(api, "alice"), await new_user(api, "bob")]
            created = await create_vms(api, users, 6, "fo")  # placement prefers the emptiest node
            rows = await poll_db(db, "a clone in progress", cloning)
            node = next(k for k in cloning(rows)[0].checkpoints if k.startswith("clone_upid@")).split("@")[1]
            sim.faults.set_node_offline(node)
            offline_at = time.monotonic()
            ops = await wait_ops(api, list(created))
            recovered_s = time.monotonic() - offline_at
            rows = await operations(db)
            moved = [o for o in rows if any(s["name"] == f"failover@{node}" for s in o.steps)]
            failed = [o for o in rows if o.state != "succeeded"]
            record("chaos node offline mid-create", node=node, ops_failed_over=len(moved), ops_total=len(created),
                   ops_failed=len(failed), all_ended_after_s=recovered_s)  # fmt: skip
            assert moved, "no operation failed over"
            await all_succeeded(api, list(ops))
            # A VM whose clone was cut short on the offline node was renumbered (VMIDs are cluster-wide).
            final = {op_id: int(ops[op_id]["result"]["vmid"]) for op_id in created}
            assert any(final[o.id] != created[o.id] for o in moved)
            sim.faults.set_node_offline(node, offline=False)
            # Once the node is back, reconcile removes the half-made clones it kept: none is orphaned.
            swept = await call(api, "POST", "/vm/reconcile", headers=ADMIN)
            assert swept.status_code == 200, swept.text
            placed = await assert_exactly_once(db, sim, final)
            assert node not in {placed[final[o.id]] for o in moved}
        finally:
            await api.aclose()
            await db.dispose()


async def test_ten_percent_random_500s_all_creates_succeed(
    make_cluster: ClusterFactory, sim: PveSim, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"rolled": 0, "500s": 0}
    roll = sim.faults.roll_error

    def counted() -> bool:
        hit = roll()
        calls["rolled"] += 1
        calls["500s"] += hit
        return hit

    monkeypatch.setattr(sim.faults, "roll_error", counted)
    with make_cluster("rabbitmq") as cluster:
        api, db = replicas(cluster), Database(cluster.settings["database_url"])
        try:
            users = [await new_user(api, "alice"), await new_user(api, "bob")]
            sim.faults.set_error_rate(0.10)
            started = time.monotonic()
            created = await create_vms(api, users, 16, "flaky")
            await all_succeeded(api, list(created), timeout_s=180)
            elapsed = time.monotonic() - started
            sim.faults.clear()
            rows = await operations(db)
            await assert_exactly_once(db, sim, created)
            assert calls["500s"] >= 10, calls  # the faults really were served
            record("chaos pvesim 10% random 500s", ops_total=len(created), all_done_s=elapsed,
                   api_calls=calls["rolled"], injected_500s=calls["500s"],
                   retried_ops=sum(1 for o in rows if o.attempt > 1))  # fmt: skip
        finally:
            await api.aclose()
            await db.dispose()
