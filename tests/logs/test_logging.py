"""Logging: JSON-lines files with request ids, and the live SSE stream with filters."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

import httpx

from cloudfaster.api.app import create_app
from tests.support.app import ADMIN_KEY, make_settings, served

ADMIN = {"X-API-Key": ADMIN_KEY}


def read_events(url: str, params: dict[str, str], found: list[dict[str, object]], stop: threading.Event) -> None:
    with (
        httpx.Client(timeout=10) as client,
        client.stream("GET", f"{url}/logs/stream", params=params, headers=ADMIN) as resp,
    ):
        assert resp.status_code == 200
        event = None
        for line in resp.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event == "log":
                found.append(json.loads(line.split(":", 1)[1]))
            elif line.startswith("data:") and event == "ready":
                found.append({"ready": True})
            if stop.is_set():
                return


def test_log_files_stream_and_filters(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    app = create_app(settings)
    with served(app) as url:
        # Only WARNING and above, for user "alice".
        found: list[dict[str, object]] = []
        stop = threading.Event()
        reader = threading.Thread(
            target=read_events, args=(url, {"level": "WARNING", "userid": "alice"}, found, stop), daemon=True
        )
        reader.start()
        deadline = time.monotonic() + 10
        while not found and time.monotonic() < deadline:
            time.sleep(0.02)
        assert found == [{"ready": True}]
        log = logging.getLogger("cloudfaster.test")
        log.info("info for alice", extra={"userid": "alice"})
        log.warning("warning for bob", extra={"userid": "bob"})
        log.warning("warning for alice", extra={"userid": "alice", "resource": "vm:101"})
        deadline = time.monotonic() + 10
        while len(found) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        stop.set()
        log.warning("wake the reader", extra={"userid": "alice"})
        reader.join(timeout=10)
        messages = [e.get("message") for e in found[1:]]
        assert messages[0] == "warning for alice"
        assert found[1]["resource"] == "vm:101"
        assert "warning for bob" not in messages
        assert "info for alice" not in messages

        with httpx.Client() as client:
            denied = client.get(f"{url}/logs/stream", headers={"X-API-Key": "nope"})
            assert denied.status_code == 401
            created = client.post(
                f"{url}/users", json={"userid": "carol", "username": "C"}, headers=ADMIN | {"X-Request-ID": "req-42"}
            )
            assert created.status_code == 201

    lines = [json.loads(line) for line in (tmp_path / "logs" / "cloudfaster.jsonl").read_text().splitlines()]
    assert any(line["message"] == "warning for alice" for line in lines)
    audit = [json.loads(line) for line in (tmp_path / "logs" / "audit.jsonl").read_text().splitlines()]
    assert any(a["request_id"] == "req-42" and a["audit_action"] == "create_user" for a in audit)
    assert ADMIN_KEY not in (tmp_path / "logs" / "cloudfaster.jsonl").read_text()


def test_a_stalled_reader_never_blocks_the_api(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}",
        logging={"console_format": "plain", "stream_queue_size": 10},
    )
    app = create_app(settings)
    with served(app) as url, httpx.Client(timeout=10) as client:
        # A reader that connects and then never reads.
        stalled = httpx.Client(timeout=10)
        stream = stalled.stream("GET", f"{url}/logs/stream", params={"level": "DEBUG"}, headers=ADMIN)
        stream.__enter__()
        try:
            log = logging.getLogger("cloudfaster.test")
            payload = "x" * 2000
            started = time.monotonic()
            for i in range(3000):
                log.info("flood %d %s", i, payload)
            flood_s = time.monotonic() - started
            latencies = []
            for _ in range(20):
                t0 = time.monotonic()
                assert client.get(f"{url}/healthz").status_code == 200
                latencies.append(time.monotonic() - t0)
            assert max(latencies) < 1.0, latencies
            assert flood_s < 10, flood_s
        finally:
            stream.__exit__(None, None, None)
            stalled.close()
