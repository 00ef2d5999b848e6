"""The browser rig for the dashboard tests: Debian's Chromium through Playwright (no download), a guard that
aborts and records every request that leaves 127.0.0.1 (and records any such websocket), axe-core from
node_modules, and screenshots at both sizes."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, BrowserContext, Page, Route, ViewportSize, sync_playwright

from tests.support.rig import require

CHROMIUM = "/usr/bin/chromium"
REPO = Path(__file__).resolve().parents[2]
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = REPO / "test-artifacts" / "screenshots"
SIZES: dict[str, ViewportSize] = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
LOCAL = ("http://127.0.0.1:", "ws://127.0.0.1:")


@dataclass
class Guarded:
    """A browser context whose requests may only reach 127.0.0.1; ``blocked`` lists what tried to leave."""

    context: BrowserContext
    blocked: list[str] = field(default_factory=list)


def require_browser() -> None:
    """Skip (laptop) or fail (CI) without Chromium and axe-core."""
    require(shutil.which(CHROMIUM) is not None, "Debian's chromium")
    require(AXE.is_file(), "axe-core from npm (node_modules)")


@contextmanager
def chromium() -> Iterator[Browser]:
    """Headless Debian Chromium."""
    require_browser()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM)
        try:
            yield browser
        finally:
            browser.close()


def guarded(browser: Browser, size: str = "desktop", **options: Any) -> Guarded:
    """A new context at ``size``; axe is injected as a script tag, so the page's CSP is bypassed for it."""
    ctx = browser.new_context(viewport=SIZES[size], service_workers="block", bypass_csp=True, **options)
    out = Guarded(ctx)

    def guard(route: Route) -> None:
        if route.request.url.startswith(LOCAL):
            route.continue_()
        else:
            out.blocked.append(route.request.url)
            route.abort()

    def watch_sockets(page: Page) -> None:
        page.on("websocket", lambda ws: None if ws.url.startswith(LOCAL) else out.blocked.append(ws.url))

    ctx.route("**/*", guard)
    # Websockets are watched, not routed: route_web_socket puts a stand-in WebSocket into the page, and noVNC
    # refuses it ("Raw channel missing property: send").
    ctx.on("page", watch_sockets)
    return out


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """Serious and critical axe-core violations (WCAG 2 A and AA) on the page as it is."""
    page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = page.evaluate(
        """async () => {
          const r = await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21aa']}});
          return r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
            .map(v => ({id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map(n => n.target.join(' '))}));
        }"""
    )
    return found


def shoot(page: Page, name: str) -> Path:
    """A full-page screenshot under test-artifacts/screenshots."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
