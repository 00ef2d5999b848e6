"""Logs as JSON and as a Server-Sent Events stream from a real uvicorn server; port allocation that never hands the
same port out twice, even to concurrent creates on MariaDB and PostgreSQL."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import httpx
import pytest
import trustme
from sqlalchemy import func, select

from cloudfaster.api.app import create_app
from cloudfaster.apps.ports import allocate_ports, in_transaction_retrying, release_ports
from cloudfaster.core.errors import ConflictError
from cloudfaster.db.engine import Database
from cloudfaster.db.migrate import upgrade_to_head
from cloudfaster.db.models import DockerService, ServicePort, User
from cloudfaster.settings import DockerSettings
from tests.apps.conftest import service_settings
from tests.apps.support import create_form, make_zip, remove_projects
from tests.support.app import ADMIN_KEY, served
from tests.support.databases import fresh_database


@pytest.mark.docker
async def test_logs_tail_and_follow_as_server_sent_events(tmp_path: Path, git_ca: tuple[trustme.CA, Path]) -> None:
    settings = service_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'cf.db'}", git_ca[1])
    admin = {"X-API-Key": ADMIN_KEY}
    try:
        with served(create_app(settings, configure_logs=False)) as base:
            async with httpx.AsyncClient(base_url=base, timeout=90) as client:
                await client.post("/users", json={"userid": "alice", "username": "A"}, headers=admin)
                key = (await client.post("/keys", json={"userid": "alice"}, headers=admin)).json()["key"]
                me = {"X-API-Key": key}
                form = create_form("logs", "static", zip_bytes=make_zip({"index.html": b"hi"}))
                resp = await client.post("/service?wait=60", headers=me, **form)
                assert resp.status_code == 201, resp.text
                sid = resp.json()["id"]

                lines = (await client.get(f"/service/{sid}/logs?tail=50&container=app", headers=me)).json()["lines"]
                assert any("nginx stand-in: serving" in line for line in lines)

                events: list[tuple[str, str]] = []
                async with client.stream("GET", f"/service/{sid}/logs?follow=true&tail=5", headers=me) as stream:
                    assert stream.status_code == 200
                    assert stream.headers["content-type"].startswith("text/event-stream")
                    event = ""
                    async with asyncio.timeout(30):
                        async for line in stream.aiter_lines():
                            if line.startswith("event:"):
                                event = line.split(":", 1)[1].strip()
                            elif line.startswith("data:") and event:
                                events.append((event, line.split(":", 1)[1].strip()))
                            if any("filebrowser stand-in" in data for _, data in events):
                                break
                assert events[0][0] == "ready"
                assert any("filebrowser stand-in" in data for kind, data in events if kind == "log")
                resp = await client.delete(f"/service/{sid}?wait=60", headers=me)
                assert resp.json()["status"] == "deleted"
    finally:
        remove_projects("cf-" + settings.docker.project_namespace)


@pytest.mark.parametrize("backend", ["sqlite", "mariadb", "postgres"])
async def test_concurrent_allocations_never_share_a_port(backend: str, tmp_path: Path) -> None:
    async with fresh_database(backend, tmp_path) as url:
        db = Database(url)
        try:
            await upgrade_to_head(db)
            base = 61000 + secrets.randbelow(4000)  # above the ephemeral range: no client sockets here
            docker = DockerSettings(port_range_start=base, port_range_end=base + 59)  # 60 ports for 21 pairs, then more
            async with db.write() as session:
                user = User(userid="u", username="u")
                session.add(user)
                await session.flush()
                rows = [
                    DockerService(user_id=user.id, service_name=f"s{i}", service_types=[], status="x")
                    for i in range(22)
                ]
                session.add_all(rows)
            ids = [row.id for row in rows]

            async def allocate(service_id: int) -> dict[str, int]:
                async def attempt() -> dict[str, int]:
                    async with db.write() as session:
                        return await allocate_ports(session, docker, service_id, ["app", "files"])

                return await in_transaction_retrying(attempt)

            results = await asyncio.gather(*(allocate(i) for i in ids[:21]), return_exceptions=True)
            granted = [r for r in results if isinstance(r, dict)]
            ports = [p for r in granted for p in r.values()]
            assert len(ports) == len(set(ports))
            assert all(base <= p <= base + 59 for p in ports)
            # Every allocation succeeded unless something else on the host held ports of the range.
            assert len(granted) == 21, [r for r in results if not isinstance(r, dict)]

            # The 18 ports left make 9 more pairs; the tenth finds the range exhausted.
            for _ in range(9):
                await allocate(ids[21])
            with pytest.raises(ConflictError, match="no free host ports") as exhausted:
                await allocate(ids[21])
            assert exhausted.value.code == "ports_exhausted"

            async def held() -> int:
                async with db.read() as session:
                    return int((await session.execute(select(func.count()).select_from(ServicePort))).scalar_one())

            before = await held()
            async with db.write() as session:
                await release_ports(session, ids[0])
            assert await held() == before - 2
        finally:
            await db.dispose()
