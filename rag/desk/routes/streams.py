"""Server-sent events, pushed as things happen: a conversation's messages and status (the user), the desk's changes
(the agent console). Each stream sleeps on the desk's hub and re-reads the database when woken, or every KEEPALIVE."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from ..auth import COOKIE, Agents
from ..desk import Desk
from ..events import EVERYTHING, QUEUE, conversation_topic
from .common import ERRORS, MAX_ID, read_updates, signed_in, sse, sse_response

KEEPALIVE = 15.0  # seconds between a stream's keep-alive comments (and its re-read of the database)


def resume_after(last_event_id: str | None, after: int) -> int:
    """Where a reconnecting stream resumes: the Last-Event-ID header when it is a message id, else `after`. ASCII
    digits only: str.isdigit() also accepts "²", which int() refuses (that was a 500)."""
    if last_event_id and last_event_id.isascii() and last_event_id.isdigit() and int(last_event_id) <= MAX_ID:
        return int(last_event_id)
    return after


def streams_router(desk: Desk, agents: Agents) -> APIRouter:
    router = APIRouter()
    agent = signed_in(agents)

    @router.get("/api/conversations/{cid}/events", tags=["public"], responses=ERRORS)
    async def conversation_events(cid: str, after: int = Query(0, ge=0, le=MAX_ID),
                                  last_event_id: str | None = Header(None, include_in_schema=False)) -> StreamingResponse:
        """Server-sent events, pushed as they happen: `message` (id: the message id; a bot answer, an agent's reply, a
        notice) and `status` (queue position, agent joined or left). A reconnecting client resumes after the last id it
        saw (EventSource sends it as Last-Event-ID; or pass `after`): nothing lost, nothing shown twice."""
        await run_in_threadpool(desk.conversation, cid)  # 404 before the stream starts
        start = resume_after(last_event_id, after)

        async def stream():
            sub = desk.hub.subscribe([conversation_topic(cid), QUEUE])
            seen, shown = start, None
            try:
                yield "retry: 2000\n\n"
                while True:
                    sub.clear()  # before reading: whatever commits after this wakes the wait below
                    got = await run_in_threadpool(read_updates, desk, cid, seen)
                    messages, status = got["messages"], got["status"]
                    for m in messages:
                        seen = m["id"]
                        yield sse("message", m, event_id=seen)
                    if status != shown:
                        shown = status
                        yield sse("status", status)
                    # queue-wide changes (positions, agents online) matter only while waiting: other streams sleep through them
                    sub.topics = {conversation_topic(cid)} | ({QUEUE} if status["state"] == "waiting" else set())
                    if not await sub.wait(KEEPALIVE):
                        yield ": keep-alive\n\n"
            finally:
                desk.hub.unsubscribe(sub)

        return sse_response(stream())

    @router.get("/api/agent/events", tags=["agent"])
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
                    yield sse("changed", {})
                    while not await sub.wait(KEEPALIVE):
                        if await run_in_threadpool(present) is None:  # signed out (on any server) meanwhile
                            return
                        yield ": keep-alive\n\n"
            finally:
                desk.hub.unsubscribe(sub)

        return sse_response(stream())

    return router
