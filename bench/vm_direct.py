"""The baseline of ``bench/vm_create.py``: VM create sequences driven directly with proxmoxer, one thread each."""

from __future__ import annotations

import base64
import os
import struct
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

from proxmoxer import ProxmoxAPI

TOKEN_ID, TOKEN_SECRET = "root@pam!cloudfaster", "5b0f8a8e-5bc1-4b52-9a8f-1c6d2f0e7a11"
OSES = ["debian-12", "debian-13", "ubuntu-22.04", "ubuntu-24.04", "rocky-9"]
NODES = [f"sv{i}" for i in range(1, 6)]


def ssh_key() -> str:
    """A well-formed ed25519 public key line."""
    blob = struct.pack(">I", 11) + b"ssh-ed25519" + struct.pack(">I", 32) + os.urandom(32)
    return f"ssh-ed25519 {base64.b64encode(blob).decode()} bench@cloudfaster"


def template_of(node_index: int, os_index: int) -> int | None:
    """pvesim's default templates: node i has every OS but one, at VMID 9000 + 10*i + OS index."""
    if (node_index + os_index) % len(OSES) == len(OSES) - 1:
        return None
    return 9000 + 10 * node_index + os_index


def even_plan(count: int) -> list[tuple[str, int]]:
    """(node, template) for create n (OS ``OSES[n % 5]``): each on the node with the template and the fewest so far,
    which is the spread a placement that knows the whole burst would reach."""
    placed = dict.fromkeys(NODES, 0)
    plan = []
    for n in range(count):
        options = [(i, t) for i in range(len(NODES)) if (t := template_of(i, n % len(OSES))) is not None]
        i, template = min(options, key=lambda o: (placed[NODES[o[0]]], o[0]))
        placed[NODES[i]] += 1
        plan.append((NODES[i], template))
    return plan


class Direct:
    """proxmoxer clients, one per thread (a requests session is not thread-safe), kept warm between rounds."""

    def __init__(self, port: int, ca_file: Path, poll_s: float, threads: int) -> None:
        self.port, self.ca_file, self.poll_s = port, ca_file, poll_s
        self.local = threading.local()
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="direct")

    def api(self) -> Any:
        """This thread's proxmoxer client."""
        px = getattr(self.local, "px", None)
        if px is None:
            user, _, token = TOKEN_ID.partition("!")
            px = ProxmoxAPI(
                f"127.0.0.1:{self.port}", user=user, token_name=token, token_value=TOKEN_SECRET,
                verify_ssl=str(self.ca_file),
            )  # fmt: skip
            self.local.px = px
        return px

    def wait_task(self, node: str, upid: str) -> None:
        """Poll a task every ``poll_s`` until it stops OK."""
        while True:
            status = self.api().nodes(node).tasks(upid).status.get()
            if status["status"] == "stopped":
                if status["exitstatus"] != "OK":
                    raise RuntimeError(status["exitstatus"])
                return
            time.sleep(self.poll_s)

    def create(self, node: str, template: int, vmid: int) -> float:
        """clone (full) → PUT config (cores, memory, cloud-init user, sshkeys) → resize → start; seconds taken."""
        px = self.api()
        vm = px.nodes(node).qemu(vmid)
        start = time.perf_counter()
        self.wait_task(node, px.nodes(node).qemu(template).clone.post(newid=vmid, name=f"direct-{vmid}", full=1))
        vm.config.put(cores=2, memory="2048", ciuser="cloud", sshkeys=quote(ssh_key(), safe=""), ipconfig0="ip=dhcp")
        self.wait_task(node, vm.resize.put(disk="scsi0", size="20G"))
        self.wait_task(node, vm.status.start.post())
        return time.perf_counter() - start

    def destroy(self, node: str, vmid: int) -> None:
        """Stop and destroy a VM made by ``create``."""
        vm = self.api().nodes(node).qemu(vmid)
        self.wait_task(node, vm.status.stop.post())
        self.wait_task(node, vm.delete(purge=1))

    def burst(self, first_vmid: int, count: int) -> tuple[float, dict[str, int], list[tuple[str, int]]]:
        """``count`` creates at once over the even plan; wall time, VMs per node, and (node, vmid) made."""
        plan = even_plan(count)
        start = time.perf_counter()
        futures = [self.pool.submit(self.create, node, tpl, first_vmid + n) for n, (node, tpl) in enumerate(plan)]
        for future in futures:
            future.result()
        wall = time.perf_counter() - start
        spread: dict[str, int] = {}
        for node, _ in plan:
            spread[node] = spread.get(node, 0) + 1
        return wall, spread, [(node, first_vmid + n) for n, (node, _) in enumerate(plan)]

    def destroy_all(self, made: list[tuple[str, int]]) -> None:
        """Destroy VMs made by a burst, at once."""
        for future in [self.pool.submit(self.destroy, node, vmid) for node, vmid in made]:
            future.result()

    def close(self) -> None:
        """Stop the threads."""
        self.pool.shutdown(wait=False)
