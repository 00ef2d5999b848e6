"""A service create keeps its secrets (the Filebrowser hash, the user's env values) out of the operation row: the
row names a 0600 file, which the create reads and removes when it ends."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from sqlalchemy import select

from cloudfaster.db.models import Operation
from tests.apps.support import create_form, wait_operation
from tests.support.app import Api

pytestmark = pytest.mark.docker


async def test_create_secrets_live_in_a_private_file_not_in_the_operation(api: Api, tmp_path: Path) -> None:
    me = api.as_key(await api.new_user("alice"))
    secret = "hunter2-do-not-store"
    form = create_form("secretive", "static", env=json.dumps({"API_TOKEN": secret}))
    resp = await api.client.post("/service", headers=me, **form)
    assert resp.status_code == 202, resp.text
    op_id = resp.json()["operation"]["id"]
    async with api.app.state.cf.db.read() as session:
        params = (await session.execute(select(Operation.params).where(Operation.id == op_id))).scalar_one()
    stored = json.dumps(params)
    assert secret not in stored
    assert "$2" not in stored  # no bcrypt hash
    ref = params["secrets_ref"]
    from cloudfaster.apps.secrets import secrets_root

    root = secrets_root(api.app.state.cf.settings)
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    if (root / ref).exists():  # unless the create already finished
        assert stat.S_IMODE((root / ref).stat().st_mode) == 0o600

    op = await wait_operation(api, me, op_id)
    assert op["state"] == "succeeded", op
    [service_dir] = list((tmp_path / "services" / "alice").iterdir())
    assert f'API_TOKEN="{secret}"' in (service_dir / ".env").read_text()
    assert not (root / ref).exists()
