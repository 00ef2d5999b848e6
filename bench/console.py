"""Benchmark the console proxy: CloudFaster's websocket against a direct connection to pvesim's vncwebsocket.

pvesim runs in a thread of this process, CloudFaster in a child process (uvicorn on 127.0.0.1, SQLite), the client
here. Side by side in alternating rounds, each over a fresh console of the same VM:

- direct: vncproxy with the API token, PVE's vncwebsocket, VNC Authentication with the one-time password;
- CloudFaster: ``POST /vm/{vmid}/console``, then CloudFaster's websocket (security None), relayed to PVE.

Throughput: full-screen Raw FramebufferUpdates (640x400x4 bytes each) requested back to back, in MB/s.
Latency: the round trip of a 1x1 FramebufferUpdateRequest and its 20-byte answer, median.
Targets: at least 0.8 of direct throughput, at most 2 ms added median latency; exits 1 if either is missed.
Usage: .venv/bin/python bench/console.py [--rounds 5] [--frames 60] [--pings 300]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import httpx

REPO = Path(__file__).resolve().parents[1]
# Drop bench/ (it holds a pvesim.py) and put the repository first, for `pvesim` and the test helpers.
sys.path[:] = [str(REPO)] + [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from pvesim.config import SimConfig  # noqa: E402
from pvesim.testing import PveSim, start_pvesim  # noqa: E402
from tests.support.app import ADMIN_KEY, free_port  # noqa: E402
from tests.support.rfb import RfbClient  # noqa: E402
from tests.vms.helpers import ssh_key  # noqa: E402

MB = 1e6


async def measure(client: RfbClient, frames: int, pings: int) -> tuple[float, float]:
    """MB/s of full frames, and the median 1x1 round trip in ms."""
    await client.request(0, 0, client.width, client.height)  # warm up
    start = time.perf_counter()
    for _ in range(frames):
        await client.request(0, 0, client.width, client.height)
    elapsed = time.perf_counter() - start
    throughput = frames * client.width * client.height * 4 / elapsed / MB
    rtts = []
    for _ in range(pings):
        t0 = time.perf_counter()
        await client.request(0, 0, 1, 1)
        rtts.append((time.perf_counter() - t0) * 1000)
    return throughput, statistics.median(rtts)


async def direct_round(sim: PveSim, session: aiohttp.ClientSession, vmid: int, node: str, n: int, p: int) -> Any:
    """One console straight to pvesim."""
    proxy = await asyncio.to_thread(lambda: sim.proxmox().nodes(node).qemu(vmid).vncproxy.post(websocket=1))
    url = (f"{sim.base_url}/api2/json/nodes/{node}/qemu/{vmid}/vncwebsocket?port={proxy['port']}"
           f"&vncticket={quote(proxy['ticket'], safe='')}")  # fmt: skip
    headers = {"Authorization": f"PVEAPIToken={sim.token_id}={sim.token_secret}"}
    context = ssl.create_default_context(cafile=str(sim.ca_file))
    async with session.ws_connect(url, headers=headers, ssl=context, protocols=("binary",), max_msg_size=0) as ws:
        client = RfbClient(ws)
        await client.handshake(proxy["password"])
        return await measure(client, n, p)


async def proxied_round(
    api: httpx.AsyncClient, session: aiohttp.ClientSession, key: str, vmid: int, n: int, p: int
) -> Any:
    """One console through CloudFaster."""
    link = (await api.post(f"/vm/{vmid}/console", json={"type": "vnc"}, headers={"X-API-Key": key})).json()
    protocols = ("binary", link["websocket_protocol"])
    async with session.ws_connect(link["websocket_url"], protocols=protocols, max_msg_size=0) as ws:
        client = RfbClient(ws)
        await client.handshake(None)
        return await measure(client, n, p)


def start_cloudfaster(sim: PveSim, tmp: Path, port: int) -> subprocess.Popen[bytes]:
    """CloudFaster in a child process (tests/vms/vm_server.py), pointed at the simulator."""
    args = [f"sqlite+aiosqlite:///{tmp / 'cf.sqlite'}", str(tmp), str(port), str(sim.port), str(sim.ca_file),
            sim.token_id, sim.token_secret]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "tests.vms.vm_server", *args], cwd=REPO, env=env)


async def run(rounds: int, frames: int, pings: int) -> int:
    """Set everything up, run the alternating rounds, print figures; the exit status."""
    config = SimConfig.fast()
    with start_pvesim(config) as sim, tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        server = start_cloudfaster(sim, Path(tmp), port)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as api:
                for _ in range(300):
                    try:
                        if (await api.get("/healthz")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    await asyncio.sleep(0.1)
                admin = {"X-API-Key": ADMIN_KEY}
                await api.post("/users", json={"userid": "bench", "username": "Bench"}, headers=admin)
                key = (await api.post("/keys", json={"userid": "bench", "name": "b"}, headers=admin)).json()["key"]
                body = {
                    "name": "console",
                    "os": "debian-12",
                    "cores": 1,
                    "memory": 512,
                    "disk": 10,
                    "sshkeys": [ssh_key()],
                }
                vm = (await api.post("/vm?wait=60", json=body, headers={"X-API-Key": key})).json()
                vmid, node = vm["vmid"], vm["node"]
                results: dict[str, list[tuple[float, float]]] = {"direct": [], "cloudfaster": []}
                async with aiohttp.ClientSession() as session:
                    for _ in range(rounds):
                        results["direct"].append(await direct_round(sim, session, vmid, node, frames, pings))
                        results["cloudfaster"].append(await proxied_round(api, session, key, vmid, frames, pings))
        finally:
            server.terminate()
            server.wait(timeout=30)
    tput = {k: statistics.median(t for t, _ in v) for k, v in results.items()}
    lat = {k: statistics.median(lat for _, lat in v) for k, v in results.items()}
    ratio, added = tput["cloudfaster"] / tput["direct"], lat["cloudfaster"] - lat["direct"]
    print(f"{rounds} alternating rounds, {frames} full frames (640x400x32bpp) and {pings} 1x1 round trips each")
    for name in ("direct", "cloudfaster"):
        print(f"  {name:12} throughput {tput[name]:8.1f} MB/s   median round trip {lat[name]:6.3f} ms")
    print(f"  throughput ratio {ratio:.2f} (target >= 0.80)   added median latency {added:.3f} ms (target <= 2.0)")
    return 0 if ratio >= 0.8 and added <= 2.0 else 1


def main() -> None:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--pings", type=int, default=300)
    args = parser.parse_args()
    sys.exit(asyncio.run(run(args.rounds, args.frames, args.pings)))


if __name__ == "__main__":
    main()
