"""The HTTP API (JSON and server-sent events), the agent console's API, and the static widget and console files."""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path
from queue import Queue
from typing import Literal

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import ConflictError, InputError, NotFoundError, RelaisError
from ..messages import REASONS
from .auth import COOKIE, SESSION_SECONDS, Agents
from .desk import Desk, Turn, answer_dict
from .events import EVERYTHING, QUEUE, conversation_topic
from .guards import Guards, LoginLimiter, RateLimiter, SharedRateLimiter, client_address, networks
from .shared import Shared

STATIC = Path(__file__).parent / "static"
KEEPALIVE = 15.0  # seconds between a stream's keep-alive comments (and its re-read of the database)
Reason = Literal["requested", "sensitive", "low_confidence", "repeated_abstention", "negative_feedback", "suspicious"]


class ChatRequest(BaseModel):
    question: str = Field(description="The user's message; over RAG_MAX_QUESTION_CHARS it is truncated, with a notice")
    conversation_id: str | None = Field(None, max_length=64, description="Omit to start a new conversation")
    lang: Literal["fr", "en"] | None = None
    client_message_id: str | None = Field(
        None, min_length=1, max_length=64,
        description="Idempotency key, unique per message in a conversation (a UUID): a retried POST with the same key is "
                    "answered from what was stored, and stores nothing twice")


class NewConversation(BaseModel):
    lang: Literal["fr", "en"] = "fr"


class HandoffRequest(BaseModel):
    reason: Reason | None = Field(None, description="Default: the reason the bot offered, else `requested`")


MAX_ID = 2**62  # SQLite integers are 64-bit: a larger id cannot exist, and must not reach the database


class FeedbackRequest(BaseModel):
    message_id: int = Field(ge=1, le=MAX_ID)
    value: Literal["up", "down"]


class TicketRequest(BaseModel):
    contact: str = Field(min_length=1, max_length=200, description="An e-mail address or phone number")
    message: str = Field(min_length=1, max_length=4000)
    client_message_id: str | None = Field(
        None, min_length=1, max_length=64,
        description="Idempotency key, unique per message in a conversation (a UUID): a retried POST with the same key is "
                    "answered from what was stored, and stores nothing twice")


class Login(BaseModel):
    name: str = Field(max_length=100)
    password: str = Field(max_length=200)


class Reply(BaseModel):
    text: str = Field(min_length=1, max_length=4000)
    client_message_id: str | None = Field(
        None, min_length=1, max_length=64,
        description="Idempotency key, unique per message in a conversation (a UUID): a retried POST with the same key is "
                    "answered from what was stored, and stores nothing twice")


class Presence(BaseModel):
    online: bool


class KnowledgeEntry(BaseModel):
    question: str = Field(min_length=1, max_length=500)
    answer: str = Field(min_length=1, max_length=4000)


class ApiError(BaseModel):
    error: str


ERRORS = {404: {"model": ApiError}, 409: {"model": ApiError}, 422: {"model": ApiError}, 429: {"model": ApiError}}


def for_user(answer: dict | None) -> dict | None:
    """An answer as the user's API gives it: without `considered`, the passages the bot weighed but did not
    trust (the agent's evidence, never shown to the user as an answer)."""
    return {k: v for k, v in answer.items() if k != "considered"} if answer else answer


def turn_payload(cid: str, turn: Turn) -> dict:
    return {
        "conversation_id": cid,
        "message_id": turn.bot_message_id,
        "answer": for_user(answer_dict(turn.answer)) if turn.answer else None,
        "status": turn.status.public(),
    }


def build_api(desk: Desk, agents: Agents, allowed_origins: str = "", rate_limit: int | RateLimiter | SharedRateLimiter = 30,
              health=None, allowed_hosts: str = "127.0.0.1,localhost,::1", trusted_proxies: str = "",
              shared: Shared | None = None) -> FastAPI:
    """The API behind its guards; pass the app's limiter to share one chat limit with the chat page, and `shared` to
    count failed sign-ins in the database (several servers)."""
    trusted = networks(trusted_proxies)
    logins = LoginLimiter(shared=shared)
    app = FastAPI(title="Relais", version="0.1.0", description="Cited answers from your documents, and a person one click away.")

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

    def conversation_for(body: ChatRequest) -> str:
        return desk.conversation(body.conversation_id).id if body.conversation_id else desk.start(body.lang or "fr")

    def read_updates(cid: str, after: int) -> dict:
        """New messages (as the user's API gives them) and the status: a poll's reply, and what a live stream re-reads."""
        messages, status = desk.updates(cid, after)
        return {"messages": [dict(m.public(), answer=for_user(m.answer)) for m in messages], "status": status.public()}

    # --- public API ----------------------------------------------------------------------------------
    @app.get("/health", tags=["public"])
    def get_health() -> dict:
        return {"status": "ok", **(health() if health else {})}

    @app.post("/api/chat", tags=["public"], responses=ERRORS)
    def chat(body: ChatRequest) -> dict:
        """Ask a question: the answer with its citations, confidence and handoff state."""
        cid = conversation_for(body)
        return turn_payload(cid, desk.ask(cid, body.question, body.client_message_id))

    @app.post("/api/chat/stream", tags=["public"], responses=ERRORS)
    def chat_stream(body: ChatRequest) -> StreamingResponse:
        """Server-sent events: `start` {conversation_id}, `token` {text} as produced, then `answer` (as /api/chat)."""
        cid = conversation_for(body)

        pieces: Queue = Queue()

        def answer():  # in its own thread: a client that goes away mid-stream does not stop the answer being stored
            try:
                for item in desk.say(cid, body.question, body.client_message_id):
                    pieces.put(item)
            except RelaisError as exc:
                pieces.put(exc)
            finally:
                pieces.put(None)

        threading.Thread(target=answer, daemon=True, name=f"answer-{cid[:8]}").start()

        def events():
            yield _sse("start", {"conversation_id": cid})
            while (item := pieces.get()) is not None:
                if isinstance(item, RelaisError):
                    yield _sse("error", {"error": str(item)})
                else:
                    yield _sse("answer", turn_payload(cid, item)) if isinstance(item, Turn) else _sse("token", {"text": item})

        return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.post("/api/conversations", tags=["public"])
    def new_conversation(body: NewConversation | None = None) -> dict:
        cid = desk.start(body.lang if body else "fr")
        return {"conversation_id": cid, "status": desk.status(cid).public()}

    @app.post("/api/conversations/{cid}/handoff", tags=["public"], responses=ERRORS)
    def handoff(cid: str, body: HandoffRequest | None = None) -> dict:
        """Ask for a person: the conversation joins the queue; the bot stays silent until the person closes it."""
        return {"status": desk.request_human(cid, body.reason if body else None).public()}

    @app.post("/api/conversations/{cid}/cancel", tags=["public"], responses=ERRORS)
    def cancel(cid: str) -> dict:
        return {"status": desk.cancel(cid).public()}

    @app.get("/api/conversations/{cid}/messages", tags=["public"], responses=ERRORS)
    def messages(cid: str, after: int = Query(0, ge=0, le=MAX_ID)) -> dict:
        """Messages after id `after` (bot answers, the agent's replies, notices) and the handoff status: poll it."""
        return read_updates(cid, after)

    @app.get("/api/conversations/{cid}/events", tags=["public"], responses=ERRORS)
    async def conversation_events(cid: str, after: int = Query(0, ge=0, le=MAX_ID),
                                  last_event_id: str | None = Header(None, include_in_schema=False)) -> StreamingResponse:
        """Server-sent events, pushed as they happen: `message` (id: the message id; a bot answer, an agent's reply, a
        notice) and `status` (queue position, agent joined or left). A reconnecting client resumes after the last id it
        saw (EventSource sends it as Last-Event-ID; or pass `after`): nothing lost, nothing shown twice."""
        await run_in_threadpool(desk.conversation, cid)  # 404 before the stream starts
        start = int(last_event_id) if last_event_id and last_event_id.isdigit() and int(last_event_id) <= MAX_ID else after

        async def stream():
            sub = desk.hub.subscribe([conversation_topic(cid), QUEUE])
            seen, shown = start, None
            try:
                yield "retry: 2000\n\n"
                while True:
                    sub.clear()  # before reading: whatever commits after this wakes the wait below
                    got = await run_in_threadpool(read_updates, cid, seen)
                    messages, status = got["messages"], got["status"]
                    for m in messages:
                        seen = m["id"]
                        yield _sse("message", m, event_id=seen)
                    if status != shown:
                        shown = status
                        yield _sse("status", status)
                    # queue-wide changes (positions, agents online) matter only while waiting: other streams sleep through them
                    sub.topics = {conversation_topic(cid)} | ({QUEUE} if status["state"] == "waiting" else set())
                    if not await sub.wait(KEEPALIVE):
                        yield ": keep-alive\n\n"
            finally:
                desk.hub.unsubscribe(sub)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.post("/api/conversations/{cid}/feedback", tags=["public"], responses=ERRORS)
    def feedback(cid: str, body: FeedbackRequest) -> dict:
        desk.feedback(cid, body.message_id, 1 if body.value == "up" else -1)
        return {"ok": True}

    @app.post("/api/conversations/{cid}/ticket", tags=["public"], responses=ERRORS)
    def ticket(cid: str, body: TicketRequest) -> dict:
        """No person available: leave a message and a contact."""
        return {"status": desk.leave_ticket(cid, body.contact, body.message, body.client_message_id).public()}

    # --- agent console API (signed-in agents, same origin only) ---------------------------------------
    def agent(request: Request) -> str:
        name = agents.verify(request.cookies.get(COOKIE))
        if name is None:
            raise HTTPException(401, "sign in at /agent first")
        return name

    @app.post("/api/agent/login", tags=["agent"], responses={429: {"model": ApiError}})
    def login(body: Login, request: Request) -> JSONResponse:
        client = client_address(request.client.host if request.client else "?", request.headers.get("x-forwarded-for"), trusted)
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

    @app.post("/api/agent/logout", tags=["agent"])
    def logout(request: Request) -> JSONResponse:
        if name := agents.verify(request.cookies.get(COOKIE)):
            desk.heartbeat(name, online=False)
        agents.revoke(request.cookies.get(COOKIE))  # the cookie is worthless from now on, even if a copy was kept
        response = JSONResponse({"ok": True})
        response.delete_cookie(COOKIE)
        return response

    @app.get("/api/agent/me", tags=["agent"])
    def me(name: str = Depends(agent)) -> dict:
        return {"name": name, "default_password": agents.is_default}

    @app.post("/api/agent/presence", tags=["agent"])
    def presence(body: Presence, name: str = Depends(agent)) -> dict:
        desk.heartbeat(name, online=body.online)
        return {"online": body.online}

    @app.get("/api/agent/events", tags=["agent"])
    async def agent_events(request: Request, _name: str = Depends(agent)) -> StreamingResponse:
        """Server-sent events for the console: `changed` whenever the queue or a conversation changes (the console then
        re-reads what it shows); a keep-alive comment every 15 s. The stream ends when the session does."""
        token = request.cookies.get(COOKIE)

        def present() -> str | None:
            """The agent, still signed in; an open console counts as present (presence.py)."""
            if (name := agents.verify(token)) is not None:
                desk.heartbeat(name)
            return name

        async def stream():
            sub = desk.hub.subscribe([EVERYTHING])
            try:
                yield "retry: 2000\n\n"
                while True:
                    sub.clear()  # before the console re-reads: whatever commits after this wakes the wait below
                    yield _sse("changed", {})
                    while not await sub.wait(KEEPALIVE):
                        if await run_in_threadpool(present) is None:  # signed out (on any server) meanwhile
                            return
                        yield ": keep-alive\n\n"
            finally:
                desk.hub.unsubscribe(sub)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.get("/api/agent/queue", tags=["agent"])
    def queue(name: str = Depends(agent)) -> dict:
        desk.heartbeat(name)
        return {"agent": name, "queue": desk.queue(name), "tickets": desk.tickets(), "agents_online": desk.agents_online(),
                "reasons": {k: v["en"] for k, v in REASONS.items()}}

    @app.get("/api/agent/conversations/{cid}", tags=["agent"], responses=ERRORS)
    def packet(cid: str, _name: str = Depends(agent)) -> dict:
        return desk.packet(cid)

    @app.post("/api/agent/conversations/{cid}/claim", tags=["agent"], responses=ERRORS)
    def claim(cid: str, name: str = Depends(agent)) -> JSONResponse:
        if desk.claim(cid, name):
            return JSONResponse({"claimed": True, "status": desk.status(cid).public()})
        owner = desk.conversation(cid).agent
        return JSONResponse({"error": f"already taken by {owner}" if owner else "this conversation is not waiting"}, status_code=409)

    @app.post("/api/agent/conversations/{cid}/reply", tags=["agent"], responses=ERRORS)
    def reply(cid: str, body: Reply, name: str = Depends(agent)) -> dict:
        return {"message_id": desk.reply(cid, name, body.text, body.client_message_id)}

    @app.post("/api/agent/conversations/{cid}/close", tags=["agent"], responses=ERRORS)
    def close(cid: str, name: str = Depends(agent)) -> dict:
        return {"status": desk.close(cid, name).public()}

    @app.post("/api/agent/knowledge", tags=["agent"], responses=ERRORS)
    def knowledge(body: KnowledgeEntry, name: str = Depends(agent)) -> dict:
        """Save an answer as a document; it is ingested at once and cited by the bot from then on."""
        return {"path": str(desk.save_knowledge(name, body.question, body.answer))}

    @app.get("/api/metrics", tags=["agent"])
    def metrics(_name: str = Depends(agent)) -> dict:
        return desk.metrics()

    # --- static files: the console and the widget (no build step, no CDN) ------------------------------
    @app.get("/agent", include_in_schema=False)
    def console() -> FileResponse:
        return FileResponse(STATIC / "agent.html", headers={"Cache-Control": "no-cache"})

    @app.get("/agent/{name}", include_in_schema=False)
    def console_asset(name: Literal["agent.js", "agent.css"]) -> FileResponse:
        return FileResponse(STATIC / name, headers={"Cache-Control": "no-cache"})

    @app.get("/widget.js", include_in_schema=False)
    def widget() -> FileResponse:
        return FileResponse(STATIC / "widget.js", media_type="text/javascript",
                            headers={"Cache-Control": "no-cache", "Access-Control-Allow-Origin": "*"})

    app.add_middleware(Guards, allowed_origins=allowed_origins, rate_limit=rate_limit, allowed_hosts=allowed_hosts,
                       trusted_proxies=trusted_proxies)
    return app


def _sse(event: str, data: dict, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
