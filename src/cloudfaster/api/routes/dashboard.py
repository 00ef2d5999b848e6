"""The web dashboard: one page and its own scripts and styles, served from the package (no CDN, no build step).

It is a client of the public API like any other; only the session routes (api/routes/session.py) are its own.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

import cloudfaster

router = APIRouter(include_in_schema=False)

PAGES = Path(cloudfaster.__file__).resolve().parent / "web" / "dashboard"
# Scripts and styles only from this server; the page talks only to this server (and opens the console page).
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


def mount_assets(app: FastAPI) -> None:
    """Serve the dashboard's scripts and styles under /ui/assets."""
    app.mount("/ui/assets", StaticFiles(directory=PAGES), name="dashboard-assets")


@router.get("/")
async def root() -> RedirectResponse:
    """The dashboard is the front door."""
    return RedirectResponse("/ui/", status_code=307)


@router.get("/ui")
@router.get("/ui/")
async def dashboard() -> FileResponse:
    """The dashboard page; its views are chosen in the browser from the URL fragment."""
    return FileResponse(PAGES / "index.html", media_type="text/html", headers=PAGE_HEADERS)
