"""The HTTP API (JSON and server-sent events), the agent console's API, and the static widget and console files:
the routers of rag/desk/routes/, composed behind the guards."""

from __future__ import annotations

import logging
from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import ConflictError, InputError, NotFoundError, RelaisError
from .auth import Agents
from .desk import Desk
from .guards import UNEXPECTED, Guards, LoginLimiter, ProxyHeaders, RateLimiter, SharedRateLimiter
from .routes.admin import admin_router
from .routes.chat import chat_router
from .routes.console import console_router
from .routes.loop import loop_router
from .routes.static import static_router
from .routes.streams import KEEPALIVE, streams_router
from .shared import Shared

__all__ = ["KEEPALIVE", "build_api"]
log = logging.getLogger(__name__)


def build_api(desk: Desk, agents: Agents, allowed_origins: str = "", rate_limit: int | RateLimiter | SharedRateLimiter = 30,
              health: Callable[[], dict] | None = None, allowed_hosts: str = "127.0.0.1,localhost,::1", trusted_proxies: str = "",
              shared: Shared | None = None) -> FastAPI:
    """The API behind its guards; pass the app's limiter to share one chat limit with the chat page, and `shared` to
    count failed sign-ins in the database (several servers). Whatever is mounted on it later (the chat page) is behind
    the same guards, and sees the client's address as the trusted proxies give it."""
    app = FastAPI(title="Relais", version="0.1.0", description="Cited answers from your documents, and a person one click away.")
    add_error_handlers(app)
    app.include_router(admin_router(desk, agents, health))
    app.include_router(chat_router(desk))
    app.include_router(streams_router(desk, agents))
    app.include_router(console_router(desk, agents, LoginLimiter(shared=shared)))
    app.include_router(loop_router(desk, agents))
    app.include_router(static_router())
    app.add_middleware(Guards, allowed_origins=allowed_origins, rate_limit=rate_limit, allowed_hosts=allowed_hosts)
    app.add_middleware(ProxyHeaders, trusted_proxies=trusted_proxies)  # added last, runs first: the guards see the client
    return app


def add_error_handlers(app: FastAPI) -> None:
    """Every error as {"error": "..."}: the desk's by kind (404, 409, 422, else 503: the index being built, the disk
    full), invalid requests, HTTP errors, and any other failure (500, with no internals in it)."""

    @app.exception_handler(RelaisError)
    async def relais_error(_request: Request, exc: RelaisError):
        status = 404 if isinstance(exc, NotFoundError) else 409 if isinstance(exc, ConflictError) else 422 if isinstance(exc, InputError) else 503
        return JSONResponse({"error": str(exc)}, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError):
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:]) or 'body'}: {e['msg']}" for e in exc.errors())
        return JSONResponse({"error": f"invalid request ({problems}): see /docs for the expected JSON"}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException):
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):  # a bug: the traceback goes to the log, never to the client
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return JSONResponse({"error": UNEXPECTED}, status_code=500)
