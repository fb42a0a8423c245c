"""The agent console's API: sign-in (limited per client and per account), the queue, a conversation's packet, claim,
reply, close, and saving an answer as knowledge. Same origin only (the guards), signed-in agents only (the cookie)."""

from __future__ import annotations

import math

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from ...messages import REASONS
from ..auth import COOKIE, SESSION_SECONDS, Agents
from ..desk import Desk
from ..guards import LoginLimiter, client_of
from .common import ERRORS, ApiError, idempotency_key, signed_in


class Login(BaseModel):
    name: str = Field(max_length=100)
    password: str = Field(max_length=200)


class Reply(BaseModel):
    text: str = Field(min_length=1, max_length=4000)
    client_message_id: str | None = idempotency_key()


class Presence(BaseModel):
    online: bool


class KnowledgeEntry(BaseModel):
    question: str = Field(min_length=1, max_length=500)
    answer: str = Field(min_length=1, max_length=4000)


def console_router(desk: Desk, agents: Agents, logins: LoginLimiter) -> APIRouter:
    router = APIRouter(tags=["agent"])
    agent = signed_in(agents)

    @router.post("/api/agent/login", responses={429: {"model": ApiError}})
    def login(body: Login, request: Request) -> JSONResponse:
        client = client_of(request)
        if wait := logins.retry_after(client, body.name):
            seconds = math.ceil(wait)
            return JSONResponse({"error": f"too many failed sign-ins: retry in {seconds} s", "retry_after": seconds},
                                status_code=429, headers={"Retry-After": str(seconds)})
        if not agents.check(body.name, body.password):
            logins.failed(client, body.name)
            return JSONResponse({"error": "wrong name or password"}, status_code=401)
        logins.succeeded(client, body.name)
        desk.heartbeat(body.name, online=True)
        response = JSONResponse({"name": body.name})
        response.set_cookie(COOKIE, agents.token(body.name), max_age=SESSION_SECONDS, httponly=True, samesite="strict")
        return response

    @router.post("/api/agent/logout")
    def logout(request: Request) -> JSONResponse:
        if name := agents.verify(request.cookies.get(COOKIE)):
            desk.heartbeat(name, online=False)
        agents.revoke(request.cookies.get(COOKIE))  # the cookie is worthless from now on, even if a copy was kept
        response = JSONResponse({"ok": True})
        response.delete_cookie(COOKIE)
        return response

    @router.get("/api/agent/me")
    def me(name: str = Depends(agent)) -> dict:
        return {"name": name, "default_password": agents.is_default}

    @router.post("/api/agent/presence")
    def presence(body: Presence, name: str = Depends(agent)) -> dict:
        desk.heartbeat(name, online=body.online)
        return {"online": body.online}

    @router.get("/api/agent/queue")
    def queue(name: str = Depends(agent)) -> dict:
        desk.heartbeat(name)
        return {"agent": name, "queue": desk.queue(name), "tickets": desk.tickets(), "agents_online": desk.agents_online(),
                "reasons": {k: v["en"] for k, v in REASONS.items()}}

    @router.get("/api/agent/conversations/{cid}", responses=ERRORS)
    def packet(cid: str, _name: str = Depends(agent)) -> dict:
        return desk.packet(cid)

    @router.post("/api/agent/conversations/{cid}/claim", responses=ERRORS)
    def claim(cid: str, name: str = Depends(agent)) -> JSONResponse:
        if desk.claim(cid, name):
            return JSONResponse({"claimed": True, "status": desk.status(cid).public()})
        owner = desk.conversation(cid).agent
        return JSONResponse({"error": f"already taken by {owner}" if owner else "this conversation is not waiting"}, status_code=409)

    @router.post("/api/agent/conversations/{cid}/reply", responses=ERRORS)
    def reply(cid: str, body: Reply, name: str = Depends(agent)) -> dict:
        return {"message_id": desk.reply(cid, name, body.text, body.client_message_id)}

    @router.post("/api/agent/conversations/{cid}/close", responses=ERRORS)
    def close(cid: str, name: str = Depends(agent)) -> dict:
        return {"status": desk.close(cid, name).public()}

    @router.post("/api/agent/knowledge", responses=ERRORS)
    def knowledge(body: KnowledgeEntry, name: str = Depends(agent)) -> dict:
        """Save an answer as a document; it is ingested at once and cited by the bot from then on."""
        entry = desk.add_knowledge(name, body.question, body.answer)
        return {"path": str(desk.knowledge_dir / entry.source), "entry": entry.public()}

    return router
