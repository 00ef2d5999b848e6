"""Fast unit tests of the SDK's retry rules, error decoding and uploads (httpx.MockTransport); the behaviour itself
is tested against a real server in tests/cli."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import httpx
import pytest

from cloudfaster.client import ApiError, Client, ConnectionFailed, RetryPolicy, calls
from cloudfaster.client._core import retry_after

FAST = RetryPolicy(attempts=4, backoff_s=0.01, max_delay_s=0.2)
VM = {
    "vmid": 101, "userid": "u", "name": "a", "os": "debian-12", "cores": 1, "memory": 512, "disk": 12,
    "sshkeys": [], "node": None, "status": "creating", "status_detail": None, "created_at": "2026-12-01T10:00:00Z",
    "updated_at": "2026-12-01T10:00:00Z", "deleted_at": None, "future_field": 1,
}  # fmt: skip


def test_429_and_503_are_retried_after_retry_after() -> None:
    seen: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(time.monotonic())
        if len(seen) == 1:
            return httpx.Response(
                429, headers={"Retry-After": "0"}, json={"error": {"code": "rate_limited", "message": "slow"}}
            )
        if len(seen) == 2:
            return httpx.Response(503, headers={"Retry-After": "1"}, json={"error": {"code": "x", "message": "y"}})
        return httpx.Response(200, json=VM)

    with Client(
        "http://cf.test", "k", retry=RetryPolicy(attempts=4, max_delay_s=0.15), transport=httpx.MockTransport(handler)
    ) as cf:
        vm = cf.send(calls.vm_get(101))
    assert vm.vmid == 101
    assert vm.model_extra == {"future_field": 1}
    assert len(seen) == 3
    assert seen[2] - seen[1] >= 0.14  # Retry-After 1, capped by max_delay_s


def test_a_create_retried_after_a_broken_connection_sends_the_same_idempotency_key() -> None:
    keys: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        keys.append(request.headers.get("Idempotency-Key"))
        if len(keys) == 1:
            raise httpx.RemoteProtocolError("server disconnected", request=request)
        return httpx.Response(202, json=VM)

    with Client("http://cf.test", "k", retry=FAST, transport=httpx.MockTransport(handler)) as cf:
        cf.send(calls.vm_create({"name": "a"}))
    assert len(keys) == 2
    assert keys[0] is not None
    assert keys[0] == keys[1]


def test_a_call_without_a_key_is_not_retried_after_a_broken_connection() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadError("reset", request=request)

    with (
        Client("http://cf.test", "k", retry=FAST, transport=httpx.MockTransport(handler)) as cf,
        pytest.raises(ConnectionFailed),
    ):
        cf.send(calls.user_create("u", "U"))


def test_errors_carry_the_apis_code_and_message() -> None:
    body = {"error": {"code": "quota_exceeded", "message": "at most 2 VMs", "details": {"max_vms": 2}}}
    transport = httpx.MockTransport(lambda _: httpx.Response(409, json=body, headers={"X-Request-ID": "r1"}))
    with Client("http://cf.test", "k", retry=FAST, transport=transport) as cf, pytest.raises(ApiError) as caught:
        cf.send(calls.vm_get(101))
    assert (caught.value.status, caught.value.code, caught.value.message) == (409, "quota_exceeded", "at most 2 VMs")
    assert caught.value.details == {"max_vms": 2}
    assert caught.value.request_id == "r1"


def test_an_upload_is_read_in_chunks_with_progress(tmp_path: Path) -> None:
    path = tmp_path / "site.zip"
    path.write_bytes(b"x" * (3 * 1024 * 1024))
    reports: list[tuple[int, int]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(202, json={**VM, "id": 1})

    with Client("http://cf.test", "k", retry=FAST, transport=httpx.MockTransport(handler)) as cf:
        call = calls.service_deploy(1, zip_path=path, progress=lambda done, total: reports.append((done, total)))
        cf._response(call)
    assert reports[-1] == (path.stat().st_size, path.stat().st_size)
    steps = [b[0] - a[0] for a, b in itertools.pairwise(reports)]
    assert len(reports) > 10
    assert max(steps) <= 1024 * 1024, "the file was not read in chunks"


def test_retry_after_reads_seconds_and_dates() -> None:
    assert retry_after("3") == 3.0
    assert retry_after(None) is None
    assert retry_after("Wed, 01 Jan 2020 00:00:00 GMT") == 0.0
