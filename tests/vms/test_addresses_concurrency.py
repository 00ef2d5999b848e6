"""100 concurrent creates on a pool of 120 addresses: 100 distinct addresses, on every database backend."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest
from pvesim.testing import PveSim

from tests.support.app import Api
from tests.support.databases import BACKENDS
from tests.vms.helpers import vm_body, wait_op
from tests.vms.pool_helpers import make_pool


@pytest.mark.slow
@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
async def test_hundred_concurrent_creates_get_hundred_distinct_addresses(burst_api: Api, sim: PveSim) -> None:
    api = burst_api
    # A /25 has 125 addresses besides network, broadcast and gateway; 5 excluded leave 120.
    pool = await make_pool(api, cidr="10.90.0.0/25", gateway="10.90.0.1", excluded=["10.90.0.2-10.90.0.6"])
    assert pool["capacity"] == 120
    users = [await api.new_user(f"user{i}") for i in range(10)]
    bodies = [(key, vm_body(f"vm-{n}", cores=1, memory=512, disk=10)) for n in range(10) for key in users]
    responses = await asyncio.gather(*(api.client.post("/vm", json=b, headers=api.as_key(k)) for k, b in bodies))
    assert [r.status_code for r in responses] == [202] * 100, [r.text for r in responses if r.status_code != 202]
    ops = await asyncio.gather(
        *(
            wait_op(api, api.as_key(k), r.headers["Location"], limit_s=240, poll_s=0.5)
            for (k, _), r in zip(bodies, responses, strict=True)
        )
    )
    assert [op["state"] for op in ops] == ["succeeded"] * 100, [op["error"] for op in ops if op["error"]]

    created = {vmid: vm for vmid, vm in sim.cluster.vms.items() if not vm.is_template}
    assert len(created) == 100
    configured = [vm.config["ipconfig0"].split(",")[0].removeprefix("ip=") for vm in created.values()]
    addresses = {str(ipaddress.ip_interface(c).ip) for c in configured}
    assert len(addresses) == 100
    network = ipaddress.ip_network("10.90.0.0/25")
    assert all(ipaddress.ip_address(a) in network for a in addresses)
    assert not addresses & {"10.90.0.0", "10.90.0.1", "10.90.0.127", *(f"10.90.0.{i}" for i in range(2, 7))}
    held = (await api.client.get("/pools/lan", headers=api.admin)).json()
    assert held["used"] == 100
    assert held["addresses"] == {
        str(ipaddress.ip_interface(vm.config["ipconfig0"].split(",")[0].removeprefix("ip=")).ip): vmid
        for vmid, vm in created.items()
    }
