"""The VM detail page's day-two sections in Chromium: a user takes a snapshot and rolls back to it, backs the VM up,
protects it (and a delete is then refused in words), and deletes the backup; the pages pass axe at both sizes."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect

from tests.web.browser import SIZES, axe_violations, chromium, guarded, shoot
from tests.web.conftest import Dashboard
from tests.web.test_dashboard import SLOW, SSH_KEY, sign_in


def _last_op(dashboard: Dashboard, page: Page, kind: str, vmid: int) -> dict[str, Any]:
    """The newest operation of ``kind`` on the VM, once it has ended (the page is read again when it does)."""
    for _ in range(SLOW // 250):
        ops = [op for op in dashboard.admin.get("/operations").json()["items"]
               if op["kind"] == kind and op["target_id"] == str(vmid)]  # fmt: skip
        if ops and ops[-1]["state"] in ("succeeded", "failed"):
            return dict(ops[-1])
        page.wait_for_timeout(250)
    raise AssertionError(f"no {kind} on VM {vmid} ended")


def test_snapshots_backups_and_protection_from_the_vm_page(dashboard: Dashboard) -> None:
    key = dashboard.new_user("dayuser")
    made = dashboard.admin.post(
        "/vm", params={"wait": 60},
        json={"userid": "dayuser", "name": "keeper", "os": "debian-12", "cores": 1, "memory": 512, "disk": 10,
              "sshkeys": [SSH_KEY]},
    )  # fmt: skip
    assert made.status_code == 200, made.text
    vmid = made.json()["vmid"]
    with chromium() as browser:
        g = guarded(browser)
        page = g.context.new_page()
        sign_in(page, dashboard.url, key)
        page.goto(f"{dashboard.url}/ui/#/vms/{vmid}")
        expect(page.get_by_role("heading", name="Snapshots")).to_be_visible()

        page.get_by_label("Snapshot name").fill("before-upgrade")
        page.get_by_label("Description").fill("known good")
        page.get_by_role("button", name="Take snapshot").click()
        assert _last_op(dashboard, page, "vm.snapshot", vmid)["state"] == "succeeded"
        snapshots = page.get_by_role("region", name="1 snapshot")
        expect(snapshots).to_contain_text("before-upgrade (current)", timeout=SLOW)
        expect(snapshots).to_contain_text("known good")
        listed = dashboard.admin.get(f"/vm/{vmid}/snapshots").json()
        assert [s["name"] for s in listed["snapshots"]] == ["before-upgrade"]

        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Roll back to before-upgrade").click()
        assert _last_op(dashboard, page, "vm.rollback", vmid)["state"] == "succeeded"

        page.get_by_role("button", name="Back up now").click()
        assert _last_op(dashboard, page, "vm.backup", vmid)["state"] == "succeeded"
        backups = page.get_by_role("region", name="1 backup")
        expect(backups.locator(".badge")).to_have_text("available", timeout=SLOW)
        expect(backups).to_contain_text(" MB")  # its size, in words a person reads

        page.get_by_role("button", name="Protect this VM").click()
        expect(page.get_by_role("button", name="Remove protection")).to_be_visible()
        assert dashboard.admin.get(f"/vm/{vmid}").json()["protected"] is True
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Delete this VM").click()
        expect(page.get_by_role("alert")).to_contain_text("protected")  # the API's message, not a code
        assert dashboard.admin.get(f"/vm/{vmid}").json()["status"] == "enabled"

        for size, viewport in SIZES.items():
            page.set_viewport_size(viewport)
            assert axe_violations(page) == []
            shoot(page, f"vm-daytwo-{size}")

        page.get_by_role("button", name="Remove protection").click()
        expect(page.get_by_role("button", name="Protect this VM")).to_be_visible()
        (backup,) = dashboard.admin.get(f"/vm/{vmid}/backups").json()["items"]
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name=f"Delete backup {backup['id']}").click()
        expect(page.get_by_role("region", name="0 backups")).to_be_visible(timeout=SLOW)
        assert dashboard.admin.get(f"/backups/{backup['id']}").json()["status"] == "deleted"
        assert g.blocked == []
