"""Driving a cluster over HTTP: users, VM and service creates spread over the replicas, waiting for operations,
and the checks a user (or operator) would make afterwards."""

from __future__ import annotations

import asyncio
import itertools
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import httpx
from pvesim.testing import PveSim
from sqlalchemy import select

from cloudfaster.core.polling import poll_until
from cloudfaster.db.engine import Database
from cloudfaster.db.models import DockerService, Operation, ProxmoxVM
from tests.apps.support import create_form, make_zip
from tests.scale.cluster import Cluster
from tests.support.app import ADMIN_KEY
from tests.vms.helpers import vm_body

ADMIN = {"X-API-Key": ADMIN_KEY}
TERMINAL = ("succeeded", "failed", "cancelled")


@dataclass
class Replicas:
    """One httpx client per API replica, used in turn."""

    clients: list[httpx.AsyncClient]
    _turn: itertools.cycle[int] = field(init=False)

    def __post_init__(self) -> None:
        self._turn = itertools.cycle(range(len(self.clients)))

    def next(self) -> httpx.AsyncClient:
        """The next replica's client (round robin)."""
        return self.clients[next(self._turn)]

    async def aclose(self) -> None:
        """Close every client."""
        for client in self.clients:
            await client.aclose()


def replicas(cluster: Cluster, timeout_s: float = 30) -> Replicas:
    """Clients for every running API replica of ``cluster``."""
    return Replicas([httpx.AsyncClient(base_url=p.url, timeout=timeout_s) for p in cluster.apis])


async def call(api: Replicas, method: str, url: str, *, patience_s: float = 60, **kwargs: Any) -> httpx.Response:
    """One request, retried on another replica while replicas are unreachable or answer 503 (an outage)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience_s
    while True:
        try:
            resp = await api.next().request(method, url, **kwargs)
            if resp.status_code != 503:
                return resp
        except httpx.TransportError:
            pass
        if loop.time() > deadline:
            raise AssertionError(f"{method} {url}: no answer but 503/unreachable for {patience_s:g}s")
        await asyncio.sleep(0.2)


async def new_user(api: Replicas, userid: str) -> dict[str, str]:
    """Register a user, return headers with a fresh key of theirs."""
    resp = await call(api, "POST", "/users", json={"userid": userid, "username": userid}, headers=ADMIN)
    assert resp.status_code == 201, resp.text
    resp = await call(api, "POST", "/keys", json={"userid": userid, "name": "scale"}, headers=ADMIN)
    assert resp.status_code == 201, resp.text
    return {"X-API-Key": resp.json()["key"]}


async def create_vm(api: Replicas, headers: dict[str, str], name: str, **overrides: Any) -> httpx.Response:
    """``POST /vm`` with a small VM (idempotency key = name, so a retried request never makes a second VM)."""
    body = vm_body(name, cores=1, memory=512, disk=10, **overrides)
    resp = await call(api, "POST", "/vm", json=body, headers={**headers, "Idempotency-Key": f"vm-{name}"})
    assert resp.status_code in (200, 202), resp.text
    return resp


async def create_service(api: Replicas, headers: dict[str, str], name: str) -> httpx.Response:
    """``POST /service`` with a static site from a ZIP."""
    site = make_zip({"index.html": f"<h1>{name}</h1>".encode()})
    resp = await call(
        api,
        "POST",
        "/service",
        headers={**headers, "Idempotency-Key": f"svc-{name}"},
        **create_form(name, "static", zip_bytes=site),
    )
    assert resp.status_code in (200, 202), resp.text
    return resp


async def wait_ops(api: Replicas, op_ids: list[str], timeout_s: float = 120) -> dict[str, dict[str, Any]]:
    """Poll until every operation has ended; returns them by id."""
    done: dict[str, dict[str, Any]] = {}

    async def poll() -> dict[str, dict[str, Any]]:
        for op_id in [o for o in op_ids if o not in done]:
            resp = await call(api, "GET", f"/operations/{op_id}", headers=ADMIN)
            assert resp.status_code == 200, resp.text
            if resp.json()["state"] in TERMINAL:
                done[op_id] = resp.json()
        return done

    polled = await poll_until(poll, lambda ended: len(ended) == len(op_ids), timeout_s=timeout_s, interval_s=0.3)
    pending = [o for o in op_ids if o not in done]
    assert polled.done, f"{len(pending)} operations did not end in {timeout_s:g}s: {pending[:5]}"
    return done


def operation_id(resp: httpx.Response) -> str:
    """The operation id from a 202's Location header."""
    return resp.headers["Location"].rsplit("/", 1)[1]


def sim_vms(sim: PveSim) -> dict[int, str]:
    """VMID -> node of every non-template VM the simulator holds."""
    return sim.call(lambda: {vmid: vm.node for vmid, vm in sim.cluster.vms.items() if not vm.is_template})


async def our_vms(db: Database) -> dict[int, ProxmoxVM]:
    """Our VM records by VMID."""
    async with db.read() as session:
        return {vm.vmid: vm for vm in (await session.execute(select(ProxmoxVM))).scalars()}


async def our_services(db: Database) -> list[DockerService]:
    """Our service records."""
    async with db.read() as session:
        return list((await session.execute(select(DockerService))).scalars())


async def operations(db: Database) -> list[Operation]:
    """Every operation row."""
    async with db.read() as session:
        return list((await session.execute(select(Operation))).scalars())


def compose_projects(prefix: str) -> dict[str, int]:
    """Compose project -> number of containers, for projects whose name starts with ``prefix``."""
    label = '{{.Label "com.docker.compose.project"}}'
    out = subprocess.run(
        ["docker", "ps", "-a", "--format", label], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    counts: dict[str, int] = {}
    for line in out.split():
        if line.startswith(prefix):
            counts[line] = counts.get(line, 0) + 1
    return counts


def sim_task_count(sim: PveSim, kind: str) -> int:
    """How many tasks of a type (e.g. ``qmclone``) the simulator has started."""
    return sim.call(lambda: sum(1 for t in sim.simulator.tasks.tasks.values() if t.type == kind))


async def create_vms(api: Replicas, users: list[dict[str, str]], count: int, prefix: str) -> dict[str, int]:
    """Start ``count`` VM creates spread over users and replicas; operation id -> VMID."""
    responses = await asyncio.gather(*(create_vm(api, users[n % len(users)], f"{prefix}-{n}") for n in range(count)))
    return {operation_id(r): int(r.json()["vmid"]) for r in responses}


async def poll_db(
    db: Database, what: str, check: Callable[[list[Operation]], object], timeout_s: float = 30
) -> list[Operation]:
    """Poll the operation rows until ``check(rows)`` is truthy; returns the rows."""
    polled = await poll_until(
        partial(operations, db), lambda rows: bool(check(rows)), timeout_s=timeout_s, interval_s=0.05
    )
    assert polled.done, f"timed out waiting for {what}: {[(o.kind, o.state) for o in polled.value]}"
    return polled.value


async def assert_exactly_once(db: Database, sim: PveSim, expected: dict[str, int]) -> dict[int, str]:
    """Every VM we made exists once in Proxmox and in our records, enabled, on the node we recorded; nothing else
    exists in Proxmox (no orphan, no double). Returns VMID -> node."""
    in_pve = sim_vms(sim)
    # A record left behind by a failover renumbering (deleted, moved_to) is history, not a VM.
    ours = {k: vm for k, vm in (await our_vms(db)).items() if not (vm.status_detail or {}).get("moved_to")}
    assert sorted(in_pve) == sorted(expected.values()), f"pve={sorted(in_pve)} ours={sorted(expected.values())}"
    assert sorted(ours) == sorted(expected.values())
    assert {vm.status for vm in ours.values()} == {"enabled"}
    assert {vmid: vm.node for vmid, vm in ours.items()} == in_pve
    return in_pve
