"""Placement of a burst over the cluster, and VMIDs taken outside CloudFaster, on the real stack."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from pvesim.testing import PveSim

from cloudfaster.proxmox.types import GuestInfo, NodeLoad
from cloudfaster.vms.placement import plan
from tests.support.app import Api
from tests.support.databases import BACKENDS
from tests.vms.helpers import vm_body, wait_op

GIB = 1024**3
OSES = ["debian-12", "debian-13", "ubuntu-22.04", "ubuntu-24.04", "rocky-9"]


def test_a_burst_divides_in_proportion_to_free_memory() -> None:
    """Placing one create after the other, each seeing what the ones before reserved: 60 creates of 2 GiB over
    nodes with 96, 48 and 48 GiB free split 30/15/15; a node without the room for one more is tried last."""
    nodes = [
        NodeLoad("a", True, 32, 0.1, 128 * GIB, 32 * GIB),
        NodeLoad("b", True, 32, 0.1, 128 * GIB, 80 * GIB),
        NodeLoad("c", True, 32, 0.1, 128 * GIB, 80 * GIB),
        NodeLoad("d", True, 32, 0.1, 128 * GIB, 127 * GIB),
    ]
    guests = [GuestInfo(9000 + i, name, "tpl", "stopped", True) for i, name in enumerate("abcd")]
    reserved: Counter[str] = Counter()
    for n in range(60):
        order, _ = plan(
            nodes=nodes, guests=guests, allowed=list("abcd"), template_name="tpl", memory_mb=2048, preference=None,
            spread_key=n, reserved=dict(reserved),
        )  # fmt: skip
        assert order[-1].node == "d"  # 1 GiB free: short of room, last
        reserved[order[0].node] += 2 * GIB
    assert {node: size // (2 * GIB) for node, size in reserved.items()} == {"a": 30, "b": 15, "c": 15}


def test_a_node_full_of_reservations_goes_after_one_with_room() -> None:
    nodes = [NodeLoad("a", True, 32, 0.1, 128 * GIB, 0), NodeLoad("b", True, 32, 0.1, 128 * GIB, 120 * GIB)]
    guests = [GuestInfo(9000, "a", "tpl", "stopped", True), GuestInfo(9001, "b", "tpl", "stopped", True)]
    order, _ = plan(
        nodes=nodes, guests=guests, allowed=["a", "b"], template_name="tpl", memory_mb=4096, preference=None,
        reserved={"a": 126 * GIB},
    )  # fmt: skip
    assert [c.node for c in order] == ["b", "a"]


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
async def test_a_burst_of_100_creates_spreads_evenly_over_five_equal_nodes(burst_api: Api, sim: PveSim) -> None:
    """Each OS's template is on 4 of the 5 nodes; 100 creates, 20 of each OS, land 20 ± 3 on every node."""
    api = burst_api
    keys = [await api.new_user(f"user{i}") for i in range(10)]
    bodies = [vm_body(f"vm-{n}", os=OSES[n % 5], cores=1, memory=2048, disk=10) for n in range(100)]
    responses = await asyncio.gather(
        *(api.client.post("/vm", json=b, headers=api.as_key(keys[n % 10])) for n, b in enumerate(bodies))
    )
    assert [r.status_code for r in responses] == [202] * 100, [r.text for r in responses if r.status_code != 202]
    ops = await asyncio.gather(
        *(
            wait_op(api, api.as_key(keys[n % 10]), r.headers["Location"], limit_s=240, poll_s=0.5)
            for n, r in enumerate(responses)
        )
    )
    assert [op["state"] for op in ops] == ["succeeded"] * 100, [op["error"] for op in ops if op["error"]]
    on_pve = Counter(vm.node for vm in sim.cluster.vms.values() if not vm.is_template)
    assert sorted(on_pve) == ["sv1", "sv2", "sv3", "sv4", "sv5"]
    assert all(17 <= count <= 23 for count in on_pve.values()), on_pve
    listed = (await api.client.get("/vm?limit=200", headers=api.admin)).json()["items"]
    assert Counter(v["node"] for v in listed) == on_pve


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
async def test_vmids_taken_outside_cloudfaster_are_skipped_in_a_burst(api: Api, sim: PveSim) -> None:
    """VMs made directly on Proxmox at 1000, 1001 and 1005 (CloudFaster's first ids): 20 creates at once get 20
    distinct VMIDs, none of those three."""
    px = sim.proxmox()
    for vmid in (1000, 1001, 1005):
        px.nodes("sv1").qemu(9000).clone.post(newid=vmid, name=f"outside-{vmid}")
    keys = [await api.new_user(f"user{i}") for i in range(4)]  # within the default quota of 10 VMs each
    responses = await asyncio.gather(
        *(api.client.post("/vm", json=vm_body(f"vm-{n}"), headers=api.as_key(keys[n % 4])) for n in range(20))
    )
    assert [r.status_code for r in responses] == [202] * 20, [r.text for r in responses if r.status_code != 202]
    vmids = [r.json()["vmid"] for r in responses]
    assert len(set(vmids)) == 20
    assert not {1000, 1001, 1005} & set(vmids)
    ops = await asyncio.gather(
        *(
            wait_op(api, api.as_key(keys[n % 4]), r.headers["Location"], limit_s=120, poll_s=0.5)
            for n, r in enumerate(responses)
        )
    )
    assert [op["state"] for op in ops] == ["succeeded"] * 20, [op["error"] for op in ops if op["error"]]
    assert {sim.cluster.vms[v].name for v in (1000, 1001, 1005)} == {"outside-1000", "outside-1001", "outside-1005"}
