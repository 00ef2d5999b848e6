"""The browser consoles: the pages (noVNC, xterm.js) and the websocket that relays a VM's console from PVE.

The websocket cannot carry ``X-API-Key``: its credential is the one-time token from ``POST /vm/{vmid}/console``,
offered as the websocket subprotocol ``cloudfaster-token.<token>`` (beside ``binary``), so that it appears in no URL
and no access log. The page reads it from the URL fragment, which browsers never send to the server.
"""

from __future__ import annotations

import contextlib
import mimetypes
from typing import Annotated

from fastapi import APIRouter, FastAPI, Path, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.websockets import WebSocketState

from cloudfaster.api.errors import error_response
from cloudfaster.api.state import AppState
from cloudfaster.core.errors import AppError, UnauthorizedError
from cloudfaster.vms import console
from cloudfaster.web import ASSETS, PAGES, missing_assets

router = APIRouter(tags=["consoles"])

TOKEN_PROTOCOL = console.TOKEN_PROTOCOL
VmidPath = Annotated[int, Path(ge=100, le=999_999_999)]
# The pages load scripts only from here and talk only to this server.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; "
    "style-src 'self' 'unsafe-inline'; frame-ancestors 'self'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}
mimetypes.add_type("text/javascript", ".mjs")  # xterm.js ships ES modules as .mjs; browsers want a JS type


def mount_assets(app: FastAPI) -> None:
    """Serve the pages' own files and the npm-installed libraries under /console/assets."""
    app.mount("/console/assets/page", StaticFiles(directory=PAGES, check_dir=False), name="console-page")
    for name, path in ASSETS.items():
        app.mount(f"/console/assets/{name}", StaticFiles(directory=path, check_dir=False), name=f"console-{name}")


def _page(name: str) -> Response:
    missing = missing_assets()
    if missing:
        return error_response(
            500,
            "console_assets_missing",
            f"the console's browser libraries are not installed ({', '.join(missing)}): run scripts/bootstrap.sh",
        )
    return FileResponse(PAGES / name, media_type="text/html", headers=PAGE_HEADERS)


@router.get("/console/{vmid}/vnc", include_in_schema=False)
async def vnc_page(vmid: VmidPath) -> Response:
    """The VNC console page (noVNC); the token comes in the URL fragment."""
    return _page("vnc.html")


@router.get("/console/{vmid}/term", include_in_schema=False)
async def term_page(vmid: VmidPath) -> Response:
    """The serial console page (xterm.js); the token comes in the URL fragment."""
    return _page("term.html")


class _Browser:
    """The browser's websocket as the relay sees it."""

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket

    async def receive(self) -> bytes | None:
        message = await self.websocket.receive()
        if message["type"] == "websocket.disconnect":
            return None
        data: bytes | None = message.get("bytes")
        return data if data is not None else str(message.get("text") or "").encode()

    async def send(self, data: bytes) -> None:
        await self.websocket.send_bytes(data)


@router.websocket("/console/{vmid}/ws")
async def console_socket(websocket: WebSocket, vmid: int) -> None:
    """Redeem the token, then relay the VM's console (RFB, security None towards the browser; or the terminal)."""
    offered = websocket.scope.get("subprotocols") or []
    token = next((p.removeprefix(TOKEN_PROTOCOL) for p in offered if p.startswith(TOKEN_PROTOCOL)), None)
    state: AppState = websocket.app.state.cf
    rt = state.instance.vms.runtime
    try:
        if token is None:
            raise UnauthorizedError(
                f"offer the console token as the websocket subprotocol {TOKEN_PROTOCOL}<token>",
                code="console_token_missing",
            )
        target = await console.redeem(rt, token, vmid)
    except AppError as exc:
        await websocket.send_denial_response(error_response(exc.status_code, exc.code, exc.message))
        return
    await websocket.accept(subprotocol="binary" if "binary" in offered else None)
    try:
        await console.serve(rt, target, _Browser(websocket))
    finally:
        if websocket.application_state == WebSocketState.CONNECTED:
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):  # the browser may have gone meanwhile
                await websocket.close()
