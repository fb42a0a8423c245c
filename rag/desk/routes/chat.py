"""The user's API: ask (whole or streamed), start a conversation, hand it to a person, poll it, give feedback, leave a ticket."""

from __future__ import annotations

import logging
import threading
from queue import Queue
from typing import Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from ...errors import RelaisError
from ..desk import Desk, Turn
from ..guards import UNEXPECTED
from .common import ERRORS, MAX_ID, idempotency_key, read_updates, sse, sse_response, turn_payload

log = logging.getLogger(__name__)

Reason = Literal["requested", "sensitive", "low_confidence", "closest_passages", "repeated_abstention", "negative_feedback", "suspicious"]


class ChatRequest(BaseModel):
    question: str = Field(description="The user's message; over RAG_MAX_QUESTION_CHARS it is truncated, with a notice")
    conversation_id: str | None = Field(None, max_length=64, description="Omit to start a new conversation")
    lang: Literal["fr", "en"] | None = None
    client_message_id: str | None = idempotency_key()


class NewConversation(BaseModel):
    lang: Literal["fr", "en"] = "fr"


class HandoffRequest(BaseModel):
    reason: Reason | None = Field(None, description="Default: the reason the bot offered, else `requested`")


class FeedbackRequest(BaseModel):
    message_id: int = Field(ge=1, le=MAX_ID)
    value: Literal["up", "down"]
    reason: Literal["wrong", "incomplete", "not_my_question"] | None = Field(None, description="Why a thumbs down")


class TicketRequest(BaseModel):
    contact: str = Field(min_length=1, max_length=200, description="An e-mail address or phone number")
    message: str = Field(min_length=1, max_length=4000)
    client_message_id: str | None = idempotency_key()


def chat_router(desk: Desk) -> APIRouter:
    router = APIRouter(tags=["public"])

    def conversation_for(body: ChatRequest) -> str:
        return desk.conversation(body.conversation_id).id if body.conversation_id else desk.start(body.lang or "fr")

    @router.post("/api/chat", responses=ERRORS)
    def chat(body: ChatRequest) -> dict:
        """Ask a question: the answer with its citations, confidence and handoff state."""
        cid = conversation_for(body)
        return turn_payload(cid, desk.ask(cid, body.question, body.client_message_id))

    @router.post("/api/chat/stream", responses=ERRORS)
    def chat_stream(body: ChatRequest) -> StreamingResponse:
        """Server-sent events: `start` {conversation_id}, `token` {text} as produced, then `answer` (as /api/chat)."""
        cid = conversation_for(body)

        pieces: Queue = Queue()

        def answer():  # in its own thread: a client that goes away mid-stream does not stop the answer being stored
            try:
                for item in desk.say(cid, body.question, body.client_message_id):
                    pieces.put(item)
            except RelaisError as exc:  # the index being built, the disk full: the message says what to do
                pieces.put(exc)
            except Exception:  # a bug: the stream still ends with an `error` event, the details go to the log
                log.exception("answering in conversation %s failed", cid)
                pieces.put(RelaisError(UNEXPECTED))
            finally:
                pieces.put(None)

        threading.Thread(target=answer, daemon=True, name=f"answer-{cid[:8]}").start()

        def events():
            yield sse("start", {"conversation_id": cid})
            while (item := pieces.get()) is not None:
                if isinstance(item, RelaisError):
                    yield sse("error", {"error": str(item)})
                else:
                    yield sse("answer", turn_payload(cid, item)) if isinstance(item, Turn) else sse("token", {"text": item})

        return sse_response(events())

    @router.post("/api/conversations")
    def new_conversation(body: NewConversation | None = None) -> dict:
        cid = desk.start(body.lang if body else "fr")
        return {"conversation_id": cid, "status": desk.status(cid).public()}

    @router.post("/api/conversations/{cid}/handoff", responses=ERRORS)
    def handoff(cid: str, body: HandoffRequest | None = None) -> dict:
        """Ask for a person: the conversation joins the queue; the bot stays silent until the person closes it."""
        return {"status": desk.request_human(cid, body.reason if body else None).public()}

    @router.post("/api/conversations/{cid}/cancel", responses=ERRORS)
    def cancel(cid: str) -> dict:
        return {"status": desk.cancel(cid).public()}

    @router.get("/api/conversations/{cid}/messages", responses=ERRORS)
    def messages(cid: str, after: int = Query(0, ge=0, le=MAX_ID)) -> dict:
        """Messages after id `after` (bot answers, the agent's replies, notices) and the handoff status: poll it."""
        return read_updates(desk, cid, after)

    @router.post("/api/conversations/{cid}/feedback", responses=ERRORS)
    def feedback(cid: str, body: FeedbackRequest) -> dict:
        desk.feedback(cid, body.message_id, 1 if body.value == "up" else -1, body.reason)
        return {"ok": True}

    @router.post("/api/conversations/{cid}/ticket", responses=ERRORS)
    def ticket(cid: str, body: TicketRequest) -> dict:
        """No person available: leave a message and a contact."""
        return {"status": desk.leave_ticket(cid, body.contact, body.message, body.client_message_id).public()}

    return router
