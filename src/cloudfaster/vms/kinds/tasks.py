"""Helpers every VM kind uses: tasks whose UPID is saved before waiting, and removing a half-made VM."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from cloudfaster.core.polling import poll_until
from cloudfaster.core.runner.context import OperationContext
from cloudfaster.proxmox.encoding import upid_node
from cloudfaster.proxmox.errors import (
    ProxmoxNodeDownError,
    ProxmoxTaskFailedError,
    ProxmoxTaskTimeoutError,
    ProxmoxVmMissingError,
)
from cloudfaster.proxmox.hypervisor import Hypervisor
from cloudfaster.proxmox.types import VmStatus


async def run_task(
    ctx: OperationContext[Any], hv: Hypervisor, node: str, key: str, start: Callable[[], Awaitable[str | None]]
) -> None:
    """Start a task once and wait for it: the UPID is saved first, so a resumed attempt polls it instead."""
    upid = ctx.saved(key)
    started_at = None
    if upid is None:
        started_at = asyncio.get_running_loop().time()
        upid = await start()
        if upid is None:  # done synchronously (older PVE resize)
            return
        await ctx.save(key, upid)
    await wait_task(hv, upid, started_at=started_at)


async def run_task_once(
    ctx: OperationContext[Any],
    hv: Hypervisor,
    node: str,
    key: str,
    start: Callable[[], Awaitable[str | None]],
    *,
    vmid: int,
    kind: str,
    since: int,
) -> None:
    """``run_task`` for tasks that must not run twice: a resumed attempt that finds no saved UPID first looks for
    a ``kind`` task on the VM started since the request (the crash came between starting it and saving its UPID)
    and waits for that one instead of starting another."""
    if ctx.saved(key) is None and ctx.fence > 1:
        found = await hv.find_task(node, vmid, kind, since)
        if found is not None:
            await ctx.save(key, found)
    await run_task(ctx, hv, node, key, start)


async def wait_task(hv: Hypervisor, upid: str, *, started_at: float | None = None) -> None:
    """Poll a task until it stops; ``ProxmoxTaskFailedError`` unless it ended OK (or with warnings),
    ``ProxmoxTaskTimeoutError`` (retried later) after the client's task timeout.

    ``started_at``: the event loop's time just before the request that started the task, so it is first left
    alone until about when its kind has lately ended (``TaskPacing``), and how long it took counts for the next
    one. Counted from the request, not from its answer: in a burst the answer and the saved UPID come late.
    """
    loop = asyncio.get_running_loop()
    quiet = 0.0
    if started_at is not None:
        quiet = max(0.0, min(hv.pacing.quiet_s(upid), hv.task_timeout_s) - (loop.time() - started_at))
        await asyncio.sleep(quiet)
    with hv.polling():
        polled = await poll_until(
            partial(hv.task, upid_node(upid), upid),
            lambda status: not status.running,
            timeout_s=hv.task_timeout_s - quiet,
            interval_s=hv.poll_interval,
        )
    if not polled.done:
        raise ProxmoxTaskTimeoutError(f"task {upid} still running after {hv.task_timeout_s:g}s")
    if not polled.value.ok:
        raise ProxmoxTaskFailedError(polled.value.exitstatus or "task failed")
    if started_at is not None:
        hv.pacing.record(upid, loop.time() - started_at)


async def stop_and_destroy(hv: Hypervisor, node: str, vmid: int, *, running: bool) -> None:
    """Stop a VM if it runs, then destroy it with its disks."""
    loop = asyncio.get_running_loop()
    if running:
        started_at = loop.time()
        await wait_task(hv, await hv.power(node, vmid, "stop"), started_at=started_at)
    started_at = loop.time()
    await wait_task(hv, await hv.destroy(node, vmid), started_at=started_at)


def marker(vmid: int) -> str:
    """The description every VM CloudFaster makes carries, to tell ours from a stranger's on the same VMID."""
    return f"Managed by CloudFaster (vmid {vmid})"


async def settle(hv: Hypervisor, node: str, vmid: int, *, poll_s: float, timeout_s: float) -> bool:
    """Wait while the VM holds ``lock: clone`` or ``lock: create`` (a restore) (at most ``timeout_s``); False if
    it is gone (a failed clone removes itself)."""

    async def probe() -> VmStatus | None:
        try:
            return await hv.status(node, vmid)
        except ProxmoxVmMissingError:
            return None

    polled = await poll_until(
        probe,
        lambda status: status is None or status.lock not in ("clone", "create"),
        timeout_s=timeout_s,
        interval_s=poll_s,
    )
    return polled.value is not None


async def is_ours(hv: Hypervisor, node: str, vmid: int, *, poll_s: float, timeout_s: float) -> bool:
    """Whether ``vmid`` on ``node`` is a VM CloudFaster made (waits out a running clone first)."""
    if not await settle(hv, node, vmid, poll_s=poll_s, timeout_s=timeout_s):
        return False
    try:
        config = await hv.config(node, vmid)
    except ProxmoxVmMissingError:
        return False
    return marker(vmid) in str(config.get("description", ""))


async def remove_vm(
    ctx: OperationContext[Any], hv: Hypervisor, node: str, vmid: int, *, poll_s: float, timeout_s: float
) -> str | None:
    """Stop and destroy our VM on ``node`` if it is there; None when nothing is left, else why it may be."""
    try:
        if not await is_ours(hv, node, vmid, poll_s=poll_s, timeout_s=timeout_s):
            return None
        status = await hv.status(node, vmid)
        await stop_and_destroy(hv, node, vmid, running=status.status == "running")
    except ProxmoxVmMissingError:
        return None
    except ProxmoxNodeDownError as exc:
        return f"could not verify or remove VM {vmid} on {node}: {exc.message}"
    except Exception as exc:
        return f"could not remove VM {vmid} on {node}: {exc}"
    await ctx.note(f"removed@{node}", f"removed the partial VM {vmid} from {node}")
    return None
