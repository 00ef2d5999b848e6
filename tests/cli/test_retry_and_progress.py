"""A create whose answer is lost makes one VM; the live steps show in a real terminal (tmux) while they run."""

from __future__ import annotations

import json
import shutil
import subprocess
import time

from tests.cli.dropper import dropping_proxy
from tests.cli.server import CF, SSH_KEY, Server
from tests.cli.test_vms import VM_ARGS
from tests.support.rig import require


def test_a_connection_broken_mid_create_and_retried_gives_one_vm(server: Server) -> None:
    assert server.process.port is not None
    with dropping_proxy(server.process.port) as (port, dropped):
        result = server.cf(
            "vm", "create", "once", *VM_ARGS, "--no-wait", "-o", "json", CF_URL=f"http://127.0.0.1:{port}"
        )
    assert dropped == [1], "the proxy did not break the first connection"
    assert result.returncode == 0, result.stderr
    vm = json.loads(result.stdout)
    vmid = vm["vmid"]
    named = [v for v in server.get("/vm").json()["items"] if v["name"] == "once"]
    assert [v["vmid"] for v in named] == [vmid]
    assert server.cf("op", "watch", vm["operation"]["id"]).returncode == 0
    assert server.cf("vm", "delete", str(vmid), "--wait").returncode == 0


def _pane(session: str) -> str:
    return subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True).stdout


def test_the_steps_show_live_in_a_terminal(server: Server) -> None:
    require(shutil.which("tmux") is not None, "tmux")
    session = f"cf-progress-{time.monotonic_ns()}"
    env = " ".join(f"{k}='{v}'" for k, v in server.env().items() if k.startswith(("CF_", "XDG_", "PATH", "HOME")))
    keys = SSH_KEY.replace(" ", "\\ ")
    command = f"env {env} {CF} vm create live-one --os debian-12 --sshkey {keys} --cores 1 --memory 512 --disk 12; echo CF-EXIT=$?; sleep 60"  # noqa: E501
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "50", command], check=True)
    try:
        seen_running = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            pane = _pane(session)
            if "CF-EXIT=" in pane:
                break
            if "vm.create" in pane and "running" in pane and "clone" in pane:
                seen_running = pane
            time.sleep(0.1)
        final = _pane(session)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False)
    assert seen_running, f"no live steps before the end:\n{final}"
    assert "CF-EXIT=0" in final, final
    assert "enabled" in final
