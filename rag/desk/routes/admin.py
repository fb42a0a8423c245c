"""Health (public: the load balancer's probe) and the desk's metrics (signed-in agents)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Depends

from ..auth import Agents
from ..desk import Desk
from .common import signed_in


def admin_router(desk: Desk, agents: Agents, health: Callable[[], dict] | None = None) -> APIRouter:
    """`health`: more to report on /health (the index's size, the queue's length)."""
    router = APIRouter()
    agent = signed_in(agents)

    @router.get("/health", tags=["public"])
    def get_health() -> dict:
        return {"status": "ok", **(health() if health else {})}

    @router.get("/api/metrics", tags=["agent"])
    def metrics(_name: str = Depends(agent)) -> dict:
        return desk.metrics()

    return router
