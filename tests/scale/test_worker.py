"""`cloudfaster worker` is the instance without the HTTP layer: it runs operations, never loads CloudFaster's HTTP
layer (no app is built, no server runs), and stops cleanly on SIGTERM."""

from __future__ import annotations

import re
import signal
import subprocess

import pytest

from tests.scale.client import create_vm, new_user, operation_id, replicas, wait_ops
from tests.scale.conftest import ClusterFactory

# fastapi and starlette themselves do get imported: taskiq's dependency injection (taskiq_dependencies.graph)
# imports fastapi when it is installed. What must never load is our HTTP layer and a server.
HTTP_MODULES = ("cloudfaster.api", "uvicorn", "sse_starlette")


@pytest.mark.docker
async def test_worker_runs_operations_without_the_http_layer_and_stops_cleanly(make_cluster: ClusterFactory) -> None:
    with make_cluster("redis", apis=1, workers=0) as cluster:
        # -X importtime logs every module the worker imports, at start-up and later.
        worker = cluster.start_worker(python_flags=("-X", "importtime"))
        api = replicas(cluster)
        try:
            alice = await new_user(api, "alice")
            resp = await create_vm(api, alice, "by-the-worker")
            op_id = operation_id(resp)
            done = await wait_ops(api, [op_id], timeout_s=60)
            vm = (await api.next().get(f"/vm/{resp.json()['vmid']}", headers=alice)).json()
        finally:
            await api.aclose()
        assert done[op_id]["state"] == "succeeded", done[op_id]
        assert vm["status"] == "enabled"  # the API replica runs no operations: the worker did

        worker.popen.send_signal(signal.SIGTERM)
        try:
            code = worker.popen.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the worker ignored SIGTERM for 15 s:\n{worker.log_tail()}")
        log = worker.log_text()
        assert code == 0, log[-3000:]
        assert "Traceback" not in log, log[-3000:]

    imported = set(re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s+(\S+)$", log, flags=re.MULTILINE))
    assert "cloudfaster.instance" in imported  # the log really lists the worker's imports
    assert {name for name in imported if name.startswith(HTTP_MODULES)} == set()
