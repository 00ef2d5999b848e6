"""The interactive API docs render in a real headless Chromium with every request off 127.0.0.1 blocked: Swagger UI
and ReDoc come from an installed package, not a CDN. ``/`` leads to the dashboard."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cloudfaster.api.app import create_app
from tests.support.app import make_settings, served
from tests.support.rig import require

CHROMIUM = "/usr/bin/chromium"
# ReDoc's "API docs by Redocly" footer logo is the one request it makes off the page's server; the page renders
# without it (and the guard aborts it).
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("docs")
    settings = make_settings(tmp, f"sqlite+aiosqlite:///{tmp / 'db.sqlite'}")
    with served(create_app(settings, configure_logs=False)) as url:
        yield url


def render(base_url: str, path: str, selector: str) -> tuple[str, list[str]]:
    """The text of ``selector`` on ``path`` once it appears, and every request that tried to leave 127.0.0.1."""
    require(os.access(CHROMIUM, os.X_OK), "Chromium (/usr/bin/chromium)")
    from playwright.sync_api import Route, WebSocketRoute, sync_playwright

    blocked: list[str] = []

    def guard(route: Route) -> None:
        if route.request.url.startswith(base_url + "/"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    def ws_guard(ws: WebSocketRoute) -> None:
        blocked.append(ws.url)
        ws.close()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM)
        try:
            context = browser.new_context(service_workers="block")
            context.route("**/*", guard)
            context.route_web_socket(lambda url: not url.startswith("ws://127.0.0.1"), ws_guard)
            page = context.new_page()
            page.goto(base_url + path)
            text = page.locator(selector).first.inner_text(timeout=20_000)
        finally:
            browser.close()
    return text, blocked


def test_swagger_ui_renders_offline(base_url: str) -> None:
    title, blocked = render(base_url, "/docs", ".swagger-ui .info .title")
    assert "CloudFaster" in title
    assert blocked == []


def test_redoc_renders_offline(base_url: str) -> None:
    title, blocked = render(base_url, "/redoc", "h1")
    assert "CloudFaster" in title
    assert set(blocked) <= {REDOC_LOGO}


def test_the_start_page_leads_to_the_dashboard(base_url: str) -> None:
    resp = httpx.get(base_url + "/", follow_redirects=False, timeout=10)
    assert resp.status_code in (302, 307)
    assert resp.headers["location"] == "/ui/"
    page = httpx.get(base_url + "/", follow_redirects=True, timeout=10)
    assert page.status_code == 200
    assert '<script type="module" src="/ui/assets/js/app.js">' in page.text
    assert "http" not in page.text  # every asset from this server


def test_no_docs_asset_is_in_the_repository() -> None:
    # The assets come from the installed package (offline first: no third-party code copied in).
    repo = Path(__file__).resolve().parents[2]
    assert not list(repo.glob("src/**/swagger-ui*.js"))
    assert not list(repo.glob("src/**/redoc*.js"))
