"""GET /operations/{id}/events: the operation on every change of its state or steps, ending with it; owner or admin."""

from __future__ import annotations

import json

from tests.support.app import Api
from tests.vms.conftest import api, database_url, sim
from tests.web.test_dashboard import SSH_KEY

__all__ = ["api", "database_url", "sim"]


def _events(body: str) -> list[dict[str, object]]:
    found = []
    for block in body.replace("\r\n", "\n").split("\n\n"):
        lines = block.split("\n")
        if "event: operation" in lines:
            found.append(
                json.loads("".join(line.removeprefix("data: ") for line in lines if line.startswith("data: ")))
            )
    return found


async def test_a_vm_create_streams_its_steps_until_it_succeeds(api: Api) -> None:
    key = await api.new_user("streamer")
    other = await api.new_user("someone-else")
    made = await api.client.post(
        "/vm", headers=api.as_key(key),
        json={"name": "s1", "os": "debian-12", "cores": 1, "memory": 512, "disk": 10, "sshkeys": [SSH_KEY]},
    )  # fmt: skip
    assert made.status_code == 202, made.text
    op_id = made.json()["operation"]["id"]
    assert (await api.client.get(f"/operations/{op_id}/events", headers=api.as_key(other))).status_code == 404

    resp = await api.client.get(f"/operations/{op_id}/events", headers=api.as_key(key), timeout=60)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/event-stream")
    events = _events(resp.text)
    states = [e["state"] for e in events]
    assert states[-1] == "succeeded"
    assert len(events) >= 3  # several changes were sent, not just the end
    step_counts = [len(e["steps"]) for e in events]  # type: ignore[arg-type]
    assert step_counts == sorted(step_counts)
    assert step_counts[-1] > 1
    assert len({json.dumps(e, sort_keys=True) for e in events}) == len(events)  # only changes are sent
