"""What the routers share: error responses, the signed-in agent, the user's view of an answer, server-sent events."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator

from fastapi import HTTPException, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from ..auth import COOKIE, Agents
from ..desk import Desk, Turn, answer_dict

MAX_ID = 2**62  # SQLite integers are 64-bit: a larger id cannot exist, and must not reach the database


class ApiError(BaseModel):
    error: str


ERRORS = {404: {"model": ApiError}, 409: {"model": ApiError}, 422: {"model": ApiError}, 429: {"model": ApiError}}


def idempotency_key():
    """A request's optional `client_message_id` field."""
    return Field(
        None, min_length=1, max_length=64,
        description="Idempotency key, unique per message in a conversation (a UUID): a retried POST with the same key is "
                    "answered from what was stored, and stores nothing twice")


def signed_in(agents: Agents) -> Callable[[Request], str]:
    """The dependency that gives the signed-in agent's name, else 401."""

    def agent(request: Request) -> str:
        name = agents.verify(request.cookies.get(COOKIE))
        if name is None:
            raise HTTPException(401, "sign in at /agent first")
        return name

    return agent


def for_user(answer: dict | None) -> dict | None:
    """An answer as the user's API gives it: `outcome` says which of the three it is ("answer", "closest", "abstain").
    The passages the bot weighed (`considered`) are the user's only as closest passages; otherwise they are the
    agent's evidence. What the calibrator read (`signals`) is the agent's too."""
    if not answer:
        return answer
    hidden = {"signals"} | (set() if answer.get("outcome") == "closest" else {"considered", "withheld"})
    return {k: v for k, v in answer.items() if k not in hidden}


def turn_payload(cid: str, turn: Turn) -> dict:
    return {
        "conversation_id": cid,
        "message_id": turn.bot_message_id,
        "answer": for_user(answer_dict(turn.answer)) if turn.answer else None,
        "status": turn.status.public(),
    }


def read_updates(desk: Desk, cid: str, after: int) -> dict:
    """New messages (as the user's API gives them) and the status: a poll's reply, and what a live stream re-reads."""
    messages, status = desk.updates(cid, after)
    return {"messages": [dict(m.public(), answer=for_user(m.answer)) for m in messages], "status": status.public()}


def sse(event: str, data: dict, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def sse_response(events: Iterator[str] | AsyncIterator[str]) -> StreamingResponse:
    """A server-sent events stream that neither the browser nor a proxy buffers."""
    return StreamingResponse(events, media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
