"""The service page's further sections in Chromium, on the real Docker Engine: a MySQL service shows its
connection details with the password once (and that password works), a rotation shows the new one, publishing it
for a desktop client shows its address; a static site
gets an environment variable (a secret stays hidden) and a rollback to its first deployment from the history; the
page passes axe at both sizes."""

from __future__ import annotations

import io
import subprocess
import zipfile
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.web.browser import SIZES, axe_violations, chromium, guarded, shoot
from tests.web.conftest import Dashboard
from tests.web.test_dashboard import SLOW, sign_in

pytestmark = pytest.mark.docker


def _site(text: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("index.html", f"<!doctype html><title>site</title><h1>{text}</h1>")
    return buf.getvalue()


def _create(page: Page, name: str, types: list[str], archive: str | None = None) -> int:
    """Create a service through the form, as a person would; its id once the page shows it running."""
    page.goto(page.url.split("#")[0] + "#/services/new")
    page.get_by_label("Name").fill(name)
    for box in page.get_by_role("group", name="Template types").get_by_role("checkbox").all():
        box.set_checked(box.get_attribute("value") in types)
    if archive:
        page.get_by_label("ZIP file").set_input_files(archive)
    page.get_by_role("button", name="Create service").click()
    expect(page.get_by_role("heading", name=f"Service {name}")).to_be_visible(timeout=SLOW)
    expect(page.locator("dl.facts .badge").first).to_have_text("running", timeout=SLOW)
    return int(page.url.rsplit("/", 1)[1])


def _mysql_answers(dashboard: Dashboard, service_id: int, user: str, password: str) -> bool:
    """Whether the app's user logs in to the service's MySQL with ``password`` (inside its container, over TCP)."""
    containers = dashboard.admin.get(f"/service/{service_id}").json()["containers"]
    name = next(c["name"] for c in containers if c["service"] == "mysql")
    run = subprocess.run(
        ["docker", "exec", "-e", f"MYSQL_PWD={password}", name,
         "mariadb", "-h127.0.0.1", f"-u{user}", "-N", "-e", "SELECT 1"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    return run.returncode == 0


def test_database_deployments_domains_and_env_from_the_service_page(dashboard: Dashboard, tmp_path: Path) -> None:
    key = dashboard.new_user("svcuser")
    first, second = tmp_path / "v1.zip", tmp_path / "v2.zip"
    first.write_bytes(_site("first version"))
    second.write_bytes(_site("second version"))
    with chromium() as browser:
        g = guarded(browser)
        page = g.context.new_page()
        sign_in(page, dashboard.url, key)

        db_id = _create(page, "shopdb", ["mysql"])
        connection = page.get_by_label("mysql connection")
        expect(connection).to_contain_text("Host (from the app)")
        expect(connection).to_contain_text("not published")
        password = connection.locator("dd code").nth(5).text_content()
        user = connection.locator("dd code").nth(4).text_content()
        assert password
        assert user
        assert "shown once" not in password
        assert _mysql_answers(dashboard, db_id, user, password)
        page.reload()  # shown once: read again, the password is gone from the page
        expect(page.get_by_label("mysql connection")).to_contain_text("shown once, when it was set")
        assert password not in page.content()

        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Rotate the password").click()
        rotated = page.get_by_role("region", name="New mysql password (shown once)")
        expect(rotated).to_be_visible(timeout=SLOW)
        new_password = rotated.locator(".secret-value").nth(1).text_content()
        assert new_password
        assert new_password != password
        expect(page.locator("section.operation")).to_have_attribute("data-state", "succeeded", timeout=SLOW)
        assert _mysql_answers(dashboard, db_id, user, new_password)
        assert not _mysql_answers(dashboard, db_id, user, password)

        page.get_by_role("button", name="Publish mysql for a desktop client").click()
        expect(page.get_by_role("button", name="Unpublish mysql")).to_be_visible(timeout=SLOW)
        published = dashboard.admin.get(f"/service/{db_id}").json()["databases"][0]
        assert published["published_port"]
        expect(page.get_by_label("mysql connection")).to_contain_text(
            f"{published['published_host']}:{published['published_port']}"
        )

        site_id = _create(page, "shop", ["static"], str(first))
        page.get_by_label("Variable name").fill("GREETING")
        page.get_by_label("Value").fill("hello")
        page.get_by_role("button", name="Set variable").click()
        expect(page.get_by_role("region", name="1 variable")).to_contain_text("hello")
        page.get_by_label("Variable name").fill("API_TOKEN")
        page.get_by_label("Value").fill("s3cr3t-value")
        page.get_by_label("Secret", exact=True).check()
        page.get_by_role("button", name="Set variable").click()
        variables = page.get_by_role("region", name="2 variables")
        expect(variables).to_contain_text("secret (hidden)")
        assert "s3cr3t-value" not in page.content()
        env = dashboard.admin.get(f"/service/{site_id}/env").json()["variables"]
        assert {v["name"]: v["value"] for v in env} == {"GREETING": "hello", "API_TOKEN": None}

        # This instance runs without the reverse proxy: the page says so in words (tests/web/test_domains_ui.py
        # has one with Caddy).
        expect(page.get_by_text("Custom domains are not available here: routing is off")).to_be_visible()

        with httpx.Client(base_url=dashboard.url, headers={"X-API-Key": key}, timeout=120) as me:
            with second.open("rb") as f:
                resp = me.post(f"/service/{site_id}/deploy", params={"wait": 120}, files={"zip_file": ("v2.zip", f)})
            assert resp.status_code == 200, resp.text
            url = next(u for name, u in resp.json()["urls"].items() if name != "files")
            assert "second version" in httpx.get(url).text
        page.reload()
        expect(page.get_by_role("region", name="2 deployments")).to_be_visible(timeout=SLOW)
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Roll back to #1").click()
        expect(page.get_by_role("region", name="3 deployments")).to_be_visible(timeout=SLOW)
        assert "first version" in httpx.get(url).text

        for size, viewport in SIZES.items():
            page.set_viewport_size(viewport)
            assert axe_violations(page) == []
            shoot(page, f"service-extras-{size}")
        for service_id in (db_id, site_id):
            assert dashboard.admin.delete(f"/service/{service_id}", params={"wait": 120}).status_code == 200
        assert g.blocked == []
