"""The console and the widget: static files, no build step, no CDN."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import FileResponse

STATIC = Path(__file__).parent.parent / "static"


def static_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/agent")
    def console() -> FileResponse:
        return FileResponse(STATIC / "agent.html", headers={"Cache-Control": "no-cache"})

    @router.get("/agent/{name}")
    def console_asset(name: Literal["agent.js", "agent.css"]) -> FileResponse:
        return FileResponse(STATIC / name, headers={"Cache-Control": "no-cache"})

    @router.get("/widget.js")
    def widget() -> FileResponse:
        return FileResponse(STATIC / "widget.js", media_type="text/javascript",
                            headers={"Cache-Control": "no-cache", "Access-Control-Allow-Origin": "*"})

    return router
