"""A typed async Proxmox VE client over proxmoxer: one API host per configured node, calls off the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import quote

from cloudfaster.proxmox.console import ConsoleSocket, connect_console
from cloudfaster.proxmox.encoding import as_int, pve_bool, upid_node
from cloudfaster.proxmox.errors import (
    ProxmoxAlreadyExistsError,
    ProxmoxAuthFailedError,
    ProxmoxNodeDownError,
    ProxmoxTransientError,
    classify,
)
from cloudfaster.proxmox.guestdata import GuestDataCalls
from cloudfaster.proxmox.pacing import TaskPacing
from cloudfaster.proxmox.types import GuestInfo, NodeLoad, TaskStatus, VmStatus

log = logging.getLogger("cloudfaster.proxmox")

T = TypeVar("T")
# Up to this many tasks are polled at the configured interval; beyond it the interval grows in proportion (at the
# default 0.1 s, at most 320 status reads a second over the cluster). A burst of 100 creates ends 6 % sooner with 32
# than with 16 (bench/vm_create.py, two alternating rounds: 7.80 and 7.85 s against 8.29 and 8.34 s).
POLLS_AT_FULL_RATE = 32


@dataclass(frozen=True, slots=True)
class NodeAddress:
    """A cluster node and the address of its API."""

    name: str
    host: str
    port: int = 8006


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A PVE API token: ``USER@REALM!TOKENID`` and its secret."""

    token_id: str
    secret: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class ClientOptions:
    """How the client talks to PVE: TLS, timeouts, threads, retries and task polling."""

    verify: bool | Path = True  # False, True (system CAs) or a CA bundle
    timeout_s: float = 10.0
    api_threads: int = 32
    transient_retries: int = 3
    retry_backoff_s: float = 0.2
    task_poll_interval_s: float = 0.2
    task_timeout_s: float = 600.0


def _environ_ca_bundle(verify: bool) -> bool | str:
    """What requests makes of ``verify=True`` when it reads the environment (``REQUESTS_CA_BUNDLE``, then
    ``CURL_CA_BUNDLE``), so that turning ``trust_env`` off keeps a CA bundle configured there."""
    if verify is not True:
        return verify
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True


class ApiHost:
    """One PVE API endpoint (a node's address). proxmoxer clients are kept per thread: requests sessions are not
    thread-safe."""

    def __init__(self, node: NodeAddress, token: ApiToken, options: ClientOptions) -> None:
        self.name = node.name
        self.host = node.host
        self.port = node.port
        self._token = token
        self._options = options
        self._local = threading.local()

    def _api(self) -> Any:
        api = getattr(self._local, "api", None)
        if api is None:
            # proxmoxer brings requests and urllib3 (5 MB resident): loaded with the first call, not at start-up.
            from proxmoxer import ProxmoxAPI
            from requests.utils import get_environ_proxies

            user, _, token_name = self._token.token_id.partition("!")
            verify = self._options.verify
            api = ProxmoxAPI(
                f"{self.host}:{self.port}",
                user=user,
                token_name=token_name,
                token_value=self._token.secret,
                verify_ssl=str(verify) if isinstance(verify, Path) else _environ_ca_bundle(verify),
                timeout=self._options.timeout_s,
            )
            # requests reads the proxy variables (all of os.environ, twice) and ~/.netrc on every request, about
            # a fifth of a call's CPU: read the proxies once per thread instead, the same way requests would.
            session = api._store["session"]
            session.proxies = get_environ_proxies(f"https://{self.host}:{self.port}")
            session.trust_env = False
            self._local.api = api
        return api

    def request(self, method: str, path: list[str], params: dict[str, Any]) -> Any:
        """Make one blocking API call; every failure comes out as a ``ProxmoxError``."""
        import requests
        from proxmoxer.core import ResourceException

        resource = self._api()(path)
        try:
            return getattr(resource, method)(**params)
        except ResourceException as exc:
            error = classify(int(exc.status_code), str(exc.content or exc.status_message or ""), exc.errors)
            if isinstance(error, ProxmoxAuthFailedError):
                log.error(
                    "Proxmox VE at %s:%s refused API token %r (%s): check the token id, its secret and the "
                    "token's permissions",
                    self.host,
                    self.port,
                    self._token.token_id,
                    exc.status_code,
                )
            raise error from exc
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise ProxmoxNodeDownError(f"cannot reach {self.host}:{self.port}: {type(exc).__name__}") from exc
        except requests.RequestException as exc:
            raise ProxmoxTransientError(f"{self.host}:{self.port}: {exc}") from exc


class ProxmoxCluster(GuestDataCalls):
    """The ``Hypervisor`` for a real (or simulated) PVE cluster, reached through the configured nodes."""

    def __init__(self, nodes: Sequence[NodeAddress], token: ApiToken, options: ClientOptions | None = None) -> None:
        if not nodes:
            raise ValueError("no Proxmox VE node is given")
        self.options = options or ClientOptions()
        self._token = token
        self.hosts = {node.name: ApiHost(node, token, self.options) for node in nodes}
        self._executor = ThreadPoolExecutor(max_workers=self.options.api_threads, thread_name_prefix="proxmox")
        self._waiting = 0  # tasks being polled right now
        self._pacing = TaskPacing()

    # ------------------------------------------------------------------ plumbing

    def _order(self, node: str | None) -> list[ApiHost]:
        own = self.hosts.get(node) if node else None
        others = [host for host in self.hosts.values() if host is not own]
        return [own, *others] if own else others

    async def _run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def _call(
        self, method: str, path: list[str], params: dict[str, Any] | None = None, *, node: str | None = None
    ) -> Any:
        """Call through the node's own API host, then the others; transient failures are retried with backoff."""
        attempt = 0
        while True:
            try:
                return await self._via_hosts(method, path, params or {}, node)
            except ProxmoxTransientError:
                if attempt >= self.options.transient_retries:
                    raise
                await asyncio.sleep(self.options.retry_backoff_s * 3**attempt)
                attempt += 1

    async def _via_hosts(self, method: str, path: list[str], params: dict[str, Any], node: str | None) -> Any:
        hosts = self._order(node)  # never empty: the constructor refuses an empty node list
        for host in hosts[:-1]:
            try:
                return await self._run(partial(host.request, method, path, params))
            except ProxmoxNodeDownError as exc:
                if exc.status:  # 595 from a live API host: the target node itself is down
                    raise
                # this API host is unreachable: every node answers for the cluster, try another
        return await self._run(partial(hosts[-1].request, method, path, params))

    def _vm(self, node: str, vmid: int, *rest: str) -> list[str]:
        return ["nodes", node, "qemu", str(vmid), *rest]

    # ------------------------------------------------------------------ cluster

    async def version(self) -> dict[str, Any]:
        """The cluster's PVE version (also a reachability check)."""
        data: dict[str, Any] = await self._call("get", ["version"])
        return data

    async def nodes(self) -> list[NodeLoad]:
        """Every node with its state and load."""
        rows = await self._call("get", ["nodes"])
        return [
            NodeLoad(
                name=str(row["node"]),
                online=row.get("status") == "online",
                cpus=as_int(row.get("maxcpu")),
                cpu_usage=float(row.get("cpu") or 0.0),
                memory_total=as_int(row.get("maxmem")),
                memory_used=as_int(row.get("mem")),
            )
            for row in rows
        ]

    async def guests(self) -> list[GuestInfo]:
        """Every VM and template in the cluster."""
        rows = await self._call("get", ["cluster", "resources"], {"type": "vm"})
        return [
            GuestInfo(
                vmid=as_int(row["vmid"]),
                node=str(row["node"]),
                name=str(row.get("name", "")),
                status=str(row.get("status", "unknown")),
                template=bool(as_int(row.get("template"))),
                lock=row.get("lock"),
                cpus=as_int(row.get("maxcpu")),
                memory_bytes=as_int(row.get("maxmem")),
                disk_bytes=as_int(row.get("maxdisk")),
            )
            for row in rows
            if row.get("type") == "qemu"
        ]

    async def vmid_is_free(self, vmid: int) -> bool:
        """Whether ``/cluster/nextid?vmid=N`` accepts ``vmid`` (it answers N as a string, or 400 if taken)."""
        try:
            answer = await self._call("get", ["cluster", "nextid"], {"vmid": vmid})
        except ProxmoxAlreadyExistsError:
            return False
        return as_int(answer) == vmid

    async def permissions(self) -> dict[str, dict[str, int]]:
        """The token's effective privileges per ACL path (``GET /access/permissions``)."""
        data: dict[str, dict[str, int]] = await self._call("get", ["access", "permissions"])
        return data

    async def storages(self, node: str) -> list[dict[str, Any]]:
        """The storages ``node`` sees, with content types and space (``GET /nodes/{node}/storage``)."""
        data: list[dict[str, Any]] = await self._call("get", ["nodes", node, "storage"], node=node)
        return data

    # ------------------------------------------------------------------ guests

    async def clone(self, node: str, template_vmid: int, newid: int, *, name: str, description: str) -> str:
        """Start a full clone of a template on ``node``; returns the UPID."""
        params = {"newid": newid, "name": name, "description": description, "full": pve_bool(True)}
        upid: str = await self._call("post", self._vm(node, template_vmid, "clone"), params, node=node)
        return upid

    async def set_config(self, node: str, vmid: int, values: dict[str, Any]) -> None:
        """Change config keys synchronously (PUT); running VMs may keep some pending."""
        await self._call("put", self._vm(node, vmid, "config"), values, node=node)

    async def config(self, node: str, vmid: int) -> dict[str, Any]:
        """The VM's config with pending changes merged in."""
        data: dict[str, Any] = await self._call("get", self._vm(node, vmid, "config"), node=node)
        return data

    async def pending(self, node: str, vmid: int) -> list[dict[str, Any]]:
        """Config keys with their current and pending values."""
        data: list[dict[str, Any]] = await self._call("get", self._vm(node, vmid, "pending"), node=node)
        return data

    async def resize(self, node: str, vmid: int, disk: str, size: str) -> str | None:
        """Resize a disk; a UPID (PVE >= 8) or None (older PVE ran it synchronously)."""
        upid = await self._call("put", self._vm(node, vmid, "resize"), {"disk": disk, "size": size}, node=node)
        return str(upid) if isinstance(upid, str) and upid.startswith("UPID:") else None

    async def status(self, node: str, vmid: int) -> VmStatus:
        """The VM's power state and usage."""
        row = await self._call("get", self._vm(node, vmid, "status", "current"), node=node)
        return VmStatus(
            status=str(row.get("status", "unknown")),
            qmpstatus=str(row.get("qmpstatus", row.get("status", "unknown"))),
            lock=row.get("lock"),
            uptime_s=as_int(row.get("uptime")),
            cpus=as_int(row.get("cpus")),
            cpu_usage=float(row.get("cpu") or 0.0),
            memory_bytes=as_int(row.get("maxmem")),
            memory_used_bytes=as_int(row.get("mem")),
            disk_bytes=as_int(row.get("maxdisk")),
            raw=dict(row),
        )

    async def power(self, node: str, vmid: int, action: str, params: dict[str, Any] | None = None) -> str:
        """Start a power action; returns the UPID."""
        upid: str = await self._call("post", self._vm(node, vmid, "status", action), params or {}, node=node)
        return upid

    async def destroy(self, node: str, vmid: int) -> str:
        """Destroy a stopped VM with its disks; returns the UPID."""
        params = {"purge": pve_bool(True), "destroy-unreferenced-disks": pve_bool(True)}
        upid: str = await self._call("delete", self._vm(node, vmid), params, node=node)
        return upid

    async def vncproxy(self, node: str, vmid: int) -> dict[str, Any]:
        """Open a VNC websocket proxy: ticket, port (often a string), password, cert."""
        data: dict[str, Any] = await self._call(
            "post", self._vm(node, vmid, "vncproxy"), {"websocket": pve_bool(True)}, node=node
        )
        return data

    async def spiceproxy(self, node: str, vmid: int) -> dict[str, Any]:
        """A remote-viewer configuration for a running VM."""
        data: dict[str, Any] = await self._call("post", self._vm(node, vmid, "spiceproxy"), node=node)
        return data

    async def open_console(self, node: str, vmid: int, kind: Literal["vnc", "term"]) -> ConsoleSocket:
        """Open a console proxy and PVE's websocket to it, logged in: RFB after VNC auth, or the terminal.

        Both calls go to the same API host: the proxy listens on localhost of the node that ran vncproxy
        (qemu-server Qemu.pm `vncproxy`, `vncwebsocket`).
        """
        host = self._order(node)[0]
        proxy = "vncproxy" if kind == "vnc" else "termproxy"
        params = {"websocket": pve_bool(True)} if kind == "vnc" else {}
        answer = await self._run(partial(host.request, "post", self._vm(node, vmid, proxy), params))
        ticket = str(answer["ticket"])
        path = f"/api2/json/nodes/{node}/qemu/{vmid}/vncwebsocket?port={as_int(answer['port'])}"
        url = f"https://{host.host}:{host.port}{path}&vncticket={quote(ticket, safe='')}"
        auth = f"PVEAPIToken={self._token.token_id}={self._token.secret}"
        import aiohttp  # with the first console: see proxmox/console.py

        try:
            sock = await connect_console(url, auth, self._ssl_context(), self.options.timeout_s)
        except aiohttp.WSServerHandshakeError as exc:
            raise classify(exc.status, f"the console websocket was refused (HTTP {exc.status})") from exc
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise ProxmoxNodeDownError(f"cannot reach {host.host}:{host.port}: {type(exc).__name__}") from exc
        try:
            if kind == "vnc":
                await sock.vnc_login(str(answer["password"]))
            else:
                await sock.term_login(self._token.token_id, ticket)
        except BaseException:
            await sock.close()
            raise
        return sock

    def _ssl_context(self) -> ssl.SSLContext | bool:
        verify = self.options.verify
        if verify is False:
            return False
        return ssl.create_default_context(cafile=str(verify) if isinstance(verify, Path) else None)

    async def agent_interfaces(self, node: str, vmid: int) -> list[dict[str, Any]]:
        """The guest's network interfaces as its QEMU guest agent reports them (QGA ``GuestNetworkInterface``)."""
        data = await self._call("get", self._vm(node, vmid, "agent", "network-get-interfaces"), node=node)
        result = data.get("result") if isinstance(data, dict) else None
        return [nic for nic in result if isinstance(nic, dict)] if isinstance(result, list) else []

    async def agent_ping(self, node: str, vmid: int) -> None:
        """Ping the guest agent; ``ProxmoxAgentUnavailableError`` when it is not configured or not answering."""
        await self._call("post", self._vm(node, vmid, "agent", "ping"), node=node)

    def api_host(self, node: str) -> tuple[str, int]:
        """The host and port of ``node``'s API (or the first configured one)."""
        host = self._order(node)[0]
        return host.host, host.port

    # ------------------------------------------------------------------ tasks

    async def task(self, node: str, upid: str) -> TaskStatus:
        """A task's status, asked of the node the UPID names."""
        row = await self._call("get", ["nodes", upid_node(upid), "tasks", upid, "status"], node=upid_node(upid))
        running = row.get("status") != "stopped"
        return TaskStatus(upid=upid, running=running, exitstatus=None if running else str(row.get("exitstatus")))

    def poll_interval(self) -> float:
        """The task polling interval: the configured one, stretched while many tasks are polled at once so that
        polling does not crowd out the API calls that make progress."""
        return self.options.task_poll_interval_s * max(1.0, self._waiting / POLLS_AT_FULL_RATE)

    @contextlib.contextmanager
    def polling(self) -> Iterator[None]:
        """Count a task wait in progress while inside (it stretches ``poll_interval``)."""
        self._waiting += 1
        try:
            yield
        finally:
            self._waiting -= 1

    @property
    def pacing(self) -> TaskPacing:
        """How long tasks of each kind have lately taken on each node."""
        return self._pacing

    @property
    def task_timeout_s(self) -> float:
        """How long a task may run before waiting on it gives up."""
        return self.options.task_timeout_s

    async def close(self) -> None:
        """Stop the worker threads."""
        self._executor.shutdown(wait=False, cancel_futures=True)
