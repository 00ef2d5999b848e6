"""The admin pages in Chromium (a user and a key made, both found in the audit view), a cross-site POST with the
session cookie refused, and every main page checked by axe-core and photographed at 1280x800 and 390x844."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect

from tests.support.app import ADMIN_KEY, free_port
from tests.web.browser import SIZES, axe_violations, chromium, guarded, shoot
from tests.web.conftest import Dashboard
from tests.web.test_dashboard import SSH_KEY, sign_in


def rendered(page: Page, fragment: str) -> None:
    """Wait until the view of ``fragment`` is on screen."""
    expect(page.locator("body")).to_have_attribute("data-rendered", fragment, timeout=30_000)


def test_admin_creates_a_user_and_a_key_and_finds_both_in_the_audit(dashboard: Dashboard, tmp_path: Path) -> None:
    with chromium() as browser:
        g = guarded(browser)
        page = g.context.new_page()
        sign_in(page, dashboard.url, ADMIN_KEY)
        expect(page.get_by_role("heading", name="Users")).to_be_visible()
        page.get_by_label("User id").fill("newstudent")
        page.get_by_label("Name", exact=True).fill("New Student")
        page.get_by_role("button", name="Create user").click()
        expect(page.get_by_role("cell", name="newstudent", exact=True)).to_be_visible()

        page.get_by_role("row", name="newstudent").get_by_role("link", name="Quota").click()
        page.get_by_role("spinbutton", name="VMs", exact=True).fill("3")
        page.get_by_role("button", name="Save limits").click()
        expect(page.get_by_role("status")).to_have_text("Limits of newstudent saved.")
        assert dashboard.admin.get("/users/newstudent/quota").json()["limits"]["max_vms"] == 3
        page.get_by_role("link", name="Users").click()

        classlist = tmp_path / "class.csv"
        classlist.write_text("userid,username\nstudent1,Ada Lovelace\nstudent2,Alan Turing\nnewstudent,New Student\n")
        page.get_by_label("CSV file (userid,username)").set_input_files(str(classlist))
        page.get_by_role("button", name="Import users").click()
        expect(page.get_by_text("2 created, 1 already there, 0 failed.")).to_be_visible()
        assert dashboard.admin.get("/users/student2").json()["username"] == "Alan Turing"

        page.get_by_role("link", name="Keys").click()
        page.get_by_label("For user (userid)").fill("newstudent")
        page.get_by_label("Key name").fill("laptop")
        page.get_by_role("button", name="Create key").click()
        secret = page.locator("#key-secret .secret-value")
        expect(secret).to_contain_text("cf_")
        token = secret.inner_text()
        assert dashboard.admin.get("/session").status_code == 401  # the key header is no session
        assert dashboard.admin.get("/vm", headers={"X-API-Key": token}).status_code == 200  # the key works

        page.get_by_role("link", name="Audit").click()
        page.get_by_label("Action").fill("create_user")
        page.get_by_role("button", name="Search").click()
        rendered(page, "#/admin/audit?action=create_user")
        expect(page.get_by_role("cell", name="create_user (POST /users)")).to_be_visible()
        page.get_by_label("Action").fill("create_key")
        page.get_by_role("button", name="Search").click()
        rendered(page, "#/admin/audit?action=create_key")
        expect(page.get_by_role("cell", name="create_key (POST /keys)")).to_be_visible()

        page.get_by_role("link", name="Logs").click()
        page.get_by_label("Level").select_option("INFO")
        page.get_by_role("button", name="Apply filters").click()
        rendered(page, "#/admin/logs?level=INFO")
        expect(page.get_by_text("Live: records appear as they are logged.")).to_be_visible()
        watched = dashboard.new_user("logwatch")
        assert dashboard.admin.get("/vm", headers={"X-API-Key": watched}).status_code == 200
        httpx.post(dashboard.url + "/keys", headers={"X-API-Key": watched}, json={"name": "seen"})
        expect(page.get_by_role("log", name="Live log records")).to_contain_text("POST /keys", timeout=15_000)

        page.reload()  # the key is shown once: gone after a reload
        page.get_by_role("link", name="Keys").click()
        expect(page.get_by_role("heading", name="API keys")).to_be_visible()
        assert token not in page.content()
        assert g.blocked == []


@contextmanager
def other_site(html: str) -> Iterator[str]:
    """Serve one page from another origin on 127.0.0.1 (another port: same site, so the cookie is sent)."""
    port = free_port()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.shutdown()
        server.server_close()


def test_a_cross_site_post_with_the_cookie_is_refused(dashboard: Dashboard) -> None:
    key = dashboard.new_user("csrfvictim")
    before = len(dashboard.admin.get("/keys", params={"userid": "csrfvictim"}).json()["items"])
    form = f"""<!doctype html><form id="f" method="post" action="{dashboard.url}/keys"
      enctype="text/plain"><input name='{{"name":"stolen","x":"' value='"}}'></form>
      <script>document.getElementById('f').submit()</script>"""
    with chromium() as browser:
        g = guarded(browser)
        page = g.context.new_page()
        sign_in(page, dashboard.url, key)
        with other_site(form) as evil:
            page.goto(evil)
            page.wait_for_url(f"{dashboard.url}/keys")
        assert "csrf_token_invalid" in page.content()
    after = len(dashboard.admin.get("/keys", params={"userid": "csrfvictim"}).json()["items"])
    assert after == before
    denied = dashboard.admin.get("/audit", params={"userid": "csrfvictim", "result": "denied"}).json()["items"]
    assert [(e["action"], e["status_code"]) for e in denied] == [("create_key", 403)]


def _settled(page: Page) -> None:
    expect(page.locator("main h1")).not_to_have_text("", timeout=30_000)
    page.wait_for_load_state("networkidle")


# Whether some table is wider than the box it sits in (a phone user would have to scroll it sideways).
SIDEWAYS = "[...document.querySelectorAll('.table-wrap')].some((w) => w.scrollWidth > w.clientWidth + 1)"


def test_every_main_page_passes_axe_at_both_sizes(dashboard: Dashboard) -> None:
    key = dashboard.new_user("a11y")
    created = dashboard.admin.post(
        "/vm", json={"userid": "a11y", "name": "shown", "os": "debian-12", "cores": 1, "memory": 512, "disk": 10,
                     "sshkeys": [SSH_KEY]}, params={"wait": 30},
    )  # fmt: skip
    vmid = created.json()["vmid"]
    user_pages = {"signin": None, "vms": "#/vms", "vm-create": "#/vms/new", "vm-detail": f"#/vms/{vmid}",
                  "services": "#/services", "service-create": "#/services/new", "operations": "#/operations",
                  "quota": "#/quota"}  # fmt: skip
    admin_pages = {"admin-users": "#/admin/users", "admin-keys": "#/admin/keys", "admin-quota": "#/admin/quota/a11y",
                   "admin-audit": "#/admin/audit", "admin-logs": "#/admin/logs"}  # fmt: skip
    problems: dict[str, object] = {}
    with chromium() as browser:
        for size in SIZES:
            for who, pages in ((key, user_pages), (ADMIN_KEY, admin_pages)):
                g = guarded(browser, size)
                page = g.context.new_page()
                page.goto(dashboard.url + "/")
                for name, fragment in pages.items():
                    if fragment is None:
                        expect(page.get_by_role("heading", name="Sign in")).to_be_visible(timeout=30_000)
                    else:
                        if not page.get_by_role("button", name="Sign out").is_visible():
                            sign_in(page, dashboard.url, who)
                        page.goto(f"{dashboard.url}/ui/{fragment}")
                        _settled(page)
                    found = axe_violations(page)
                    if found:
                        problems[f"{name}@{size}"] = found
                    if page.evaluate(SIDEWAYS):
                        problems[f"{name}@{size}"] = "a table scrolls sideways"
                    path = shoot(page, f"{name}-{size}")
                    assert path.stat().st_size > 5000
                assert g.blocked == []
                g.context.close()
    assert problems == {}
