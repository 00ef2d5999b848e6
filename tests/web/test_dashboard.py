"""The dashboard in Debian's Chromium: a user signs in, creates a VM and watches its operation reach ``enabled``,
creates a static service from a ZIP and sees the uploaded page at its URL, reads its logs, deletes both and signs
out; nothing leaves 127.0.0.1 on the way."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, Route, expect

from tests.support.app import ADMIN_KEY
from tests.web.browser import SIZES, axe_violations, chromium, guarded, shoot
from tests.web.conftest import Dashboard

SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl user@host"
SLOW = 90_000
CANVAS_COLOURS = """() => {
  const c = document.querySelector('#screen canvas');
  if (!c || !c.width) return 0;
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  const seen = new Set();
  for (let i = 0; i < d.length && seen.size < 10; i += 4 * 97) seen.add(`${d[i]},${d[i + 1]},${d[i + 2]}`);
  return seen.size;
}"""
CANVAS_DRAWN = f"({CANVAS_COLOURS})() > 1"


def sign_in(page: Page, url: str, key: str) -> None:
    """Sign in through the form, as a person would."""
    page.goto(url + "/")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def test_vm_lifecycle_and_sign_out(dashboard: Dashboard) -> None:
    key = dashboard.new_user("vmuser")
    with chromium() as browser:
        g = guarded(browser)
        page = g.context.new_page()
        page.goto(dashboard.url + "/")
        page.get_by_label("API key").fill("cf_000000000000_not-a-key")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_have_text("invalid API key")  # the API's message, not its code
        sign_in(page, dashboard.url, key)
        expect(page.get_by_role("heading", name="Virtual machines")).to_be_visible()
        cookie = next(c for c in g.context.cookies() if c["name"] == "cf_session")
        assert cookie["httpOnly"]
        assert cookie["sameSite"] == "Strict"
        stored = page.evaluate("() => JSON.stringify([localStorage, sessionStorage, document.cookie])")
        assert key not in stored
        assert "cf_session" not in stored

        # The list shows a VM's status live: one created elsewhere goes from creating to enabled on the open page.
        made = httpx.post(
            dashboard.url + "/vm", headers={"X-API-Key": key},
            json={"name": "other", "os": "debian-12", "cores": 1, "memory": 512, "disk": 10, "sshkeys": [SSH_KEY]},
        )  # fmt: skip
        assert made.status_code == 202, made.text
        page.reload()
        row = page.locator(f"tr[data-vmid='{made.json()['vmid']}'] .badge")
        expect(row).to_have_text("creating")
        expect(row).to_have_text("enabled", timeout=SLOW)

        page.get_by_role("link", name="Create a VM").click()
        page.get_by_label("Name").fill("web1")
        page.get_by_label("Operating system").select_option("debian-12")
        page.get_by_label("Size preset").select_option("small")  # an admin-defined size fills in the values
        expect(page.get_by_label("Memory (MB)")).to_have_value("1024")
        page.get_by_label("vCPUs").fill("2")  # and a free value within the quota overrides it
        page.get_by_label("SSH public key").fill(SSH_KEY)
        with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/vm")) as sent:
            page.get_by_role("button", name="Create VM").click()
        assert len(sent.value.headers["idempotency-key"]) == 32  # a retried submit never makes a second VM
        expect(page.get_by_role("heading", name="VM web1")).to_be_visible()
        expect(page.locator("section.operation")).to_be_visible()  # the live operation panel
        expect(page.locator("dl.facts .badge").first).to_have_text("enabled", timeout=SLOW)
        vmid = int(page.url.rsplit("/", 1)[1])
        assert dashboard.admin.get(f"/vm/{vmid}").json()["cores"] == 2
        ssh_line = page.locator("dl.facts code")  # the ssh line, once the guest agent reports an address
        for _ in range(30):
            if ssh_line.count():
                break
            page.wait_for_timeout(500)
            page.reload()
        expect(ssh_line).to_contain_text("ssh ")
        expect(page.locator("dl.facts")).to_contain_text("(agent)")
        with page.expect_popup() as opened:
            page.get_by_role("button", name="Open console").click()
        console = opened.value
        # Until it leaves "connecting" (a loaded 2-core machine can take its time); then it must be connected.
        console.wait_for_function("window.consoleState && window.consoleState !== 'connecting'", timeout=60_000)
        assert console.evaluate("window.consoleState") == "connected", console.text_content("#state")
        console.wait_for_function(CANVAS_DRAWN, timeout=30_000)
        assert console.evaluate(CANVAS_COLOURS) > 1  # the VM's screen, not a blank canvas
        assert "#token=" not in console.url  # the one-time token is kept out of history
        console.close()
        ops = dashboard.admin.get("/operations").json()["items"]
        assert any(op["target_id"] == str(vmid) and op["state"] == "succeeded" for op in ops)

        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Delete this VM").click()
        expect(page.get_by_role("heading", name="Virtual machines")).to_be_visible(timeout=SLOW)
        assert dashboard.admin.get(f"/vm/{vmid}").json()["status"] == "deleted"

        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        resp = httpx.get(dashboard.url + "/vm", cookies={"cf_session": cookie["value"]})
        assert resp.status_code == 401
        assert g.blocked == []


def _site_zip(text: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("index.html", f"<!doctype html><title>hello</title><h1>{text}</h1>")
    return buf.getvalue()


@pytest.mark.docker
def test_static_service_from_a_zip(dashboard: Dashboard, tmp_path: Path) -> None:
    key = dashboard.new_user("siteuser")
    archive = tmp_path / "site.zip"
    archive.write_bytes(_site_zip("Uploaded through the dashboard"))
    with chromium() as browser:
        g = guarded(browser)
        page = g.context.new_page()
        sign_in(page, dashboard.url, key)
        page.get_by_role("link", name="Services", exact=True).click()
        page.get_by_role("link", name="Create a service").click()
        page.get_by_label("Name").fill("site")
        page.get_by_label("ZIP file").set_input_files(str(archive))
        page.get_by_role("button", name="Create service").click()
        expect(page.get_by_role("heading", name="Service site")).to_be_visible()
        expect(page.get_by_role("region", name="Filebrowser login")).to_be_visible()
        expect(page.locator("dl.facts .badge").first).to_have_text("running", timeout=SLOW)
        # The password is shown once: still there after the operation ended and the page was read again.
        expect(page.get_by_role("region", name="Filebrowser login").locator(".secret-value")).not_to_be_empty()
        web = page.get_by_role("link", name="http://127.0.0.1", exact=False).first
        site_url = web.get_attribute("href")
        assert site_url
        site = g.context.new_page()
        site.goto(site_url)
        expect(site.get_by_role("heading", name="Uploaded through the dashboard")).to_be_visible()
        site.close()

        expect(page.get_by_label("Service logs")).not_to_be_empty(timeout=SLOW)
        for size, viewport in SIZES.items():
            page.set_viewport_size(viewport)
            assert axe_violations(page) == []
            shoot(page, f"service-detail-{size}")
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Delete this service").click()
        expect(page.get_by_role("heading", name="Services")).to_be_visible(timeout=SLOW)
        assert g.blocked == []


def dropping(sent: list[str], *, first: int | None = None, method: str | None = None) -> Callable[[Route], None]:
    """A route handler that records each request's method and drops its connection: the first ``first`` requests
    (all when None), and only those with ``method`` when given."""

    def handle(route: Route) -> None:
        if method is not None and route.request.method != method:
            route.continue_()
            return
        sent.append(route.request.method)
        if first is None or len(sent) <= first:
            route.abort("connectionreset")
        else:
            route.continue_()

    return handle


def test_a_read_is_sent_again_once_after_a_dropped_connection_and_a_write_never(dashboard: Dashboard) -> None:
    key = dashboard.new_user("blip")
    quota = "**/users/blip/quota"
    with chromium() as browser:
        page = guarded(browser).context.new_page()
        sign_in(page, dashboard.url, key)
        sent: list[str] = []
        page.route(quota, dropping(sent, first=1))
        page.goto(dashboard.url + "/ui/#/quota")
        expect(page.get_by_role("heading", name="Your quota")).to_be_visible()  # drawn from the second send's answer
        assert sent == ["GET", "GET"]
        expect(page.get_by_role("alert")).to_have_count(0)

        # A second drop is the user's to see: the read is sent twice, never more.
        page.unroute(quota)
        sent.clear()
        page.route(quota, dropping(sent))
        page.goto(dashboard.url + "/ui/#/vms")
        page.goto(dashboard.url + "/ui/#/quota")
        expect(page.get_by_role("alert")).to_have_text(re.compile("CloudFaster cannot be reached"))
        page.wait_for_timeout(1000)
        assert sent == ["GET", "GET"]
        shoot(page, "quota-unreachable-desktop")

        # A write whose connection dropped is not sent again: it may have reached the server.
        page = guarded(browser).context.new_page()
        sign_in(page, dashboard.url, ADMIN_KEY)
        page.goto(dashboard.url + "/ui/#/admin/quota/blip")
        expect(page.get_by_role("button", name="Save limits")).to_be_visible()
        writes: list[str] = []
        page.route(quota, dropping(writes, method="PUT"))
        page.get_by_role("button", name="Save limits").click()
        expect(page.get_by_role("alert")).to_have_text(re.compile("CloudFaster cannot be reached"))
        page.wait_for_timeout(1000)
        assert writes == ["PUT"]
        shoot(page, "admin-quota-unsaved-desktop")
