"""The console and the widget: static files, no build step, no CDN."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response

STATIC = Path(__file__).parent.parent / "static"
SHARED = "/* @shared: the server puts static/shared.js here (relaisCards, relaisListen) */"  # in widget.js: host pages include one script


def shared_script() -> str:
    """The client code the console, the widget and the chat page share (static/shared.js)."""
    return (STATIC / "shared.js").read_text(encoding="utf-8")


def widget_script() -> str:
    """widget.js with shared.js inlined."""
    return (STATIC / "widget.js").read_text(encoding="utf-8").replace(SHARED, shared_script(), 1)


def static_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/agent")
    def console() -> FileResponse:
        return FileResponse(STATIC / "agent.html", headers={"Cache-Control": "no-cache"})

    @router.get("/agent/{name}")
    def console_asset(name: Literal["agent.js", "agent.css", "shared.js"]) -> FileResponse:
        return FileResponse(STATIC / name, headers={"Cache-Control": "no-cache"})

    @router.get("/widget.js")
    def widget() -> Response:
        return Response(widget_script(), media_type="text/javascript",
                        headers={"Cache-Control": "no-cache", "Access-Control-Allow-Origin": "*"})

    return router
