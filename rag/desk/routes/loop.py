"""The loop that learns from the desk: the user's "yes, that answered it", the resolution rate per day or week (JSON
and CSV), the content gaps, eval cases made from the desk, and the knowledge entries (list, edit, retire)."""

from __future__ import annotations

import json
from typing import Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from ..auth import Agents
from ..desk import Desk
from ..outcomes import DAY, WEEK, csv_text
from .common import ERRORS, MAX_ID, signed_in


class EntryEdit(BaseModel):
    question: str = Field(min_length=1, max_length=500)
    answer: str = Field(min_length=1, max_length=4000)


class CaseRequest(BaseModel):
    question: str = Field(min_length=1, max_length=500, description="The user's question, as asked")
    answer_contains: list[str] = Field(min_length=1, max_length=10, description="Words the answer must contain")
    knowledge_id: int = Field(ge=1, le=MAX_ID, description="The expected source: the entry saved for it")
    conversation_id: str | None = Field(None, max_length=64)


class Confirmation(BaseModel):
    message_id: int = Field(ge=1, le=MAX_ID)
    value: Literal["yes", "no"] = Field(description='The answer to "Did this answer your question?"')


def loop_router(desk: Desk, agents: Agents) -> APIRouter:
    router = APIRouter()
    agent = signed_in(agents)

    @router.post("/api/conversations/{cid}/resolved", tags=["public"], responses=ERRORS)
    def resolved(cid: str, body: Confirmation) -> dict:
        """The user's answer to "Did this answer your question?" after a bot answer: yes counts it resolved by the bot."""
        desk.confirm(cid, body.message_id, body.value == "yes")
        return {"ok": True}

    @router.get("/api/metrics/resolution", tags=["agent"])
    def resolution(period: Literal["day", "week"] = Query("day"), _name: str = Depends(agent)) -> dict:
        """Outcomes and the automated resolution rate (confirmed and assumed apart), per day or week, oldest first."""
        return {"period": period, "rows": [p.row() for p in desk.outcomes.periods(DAY if period == "day" else WEEK)]}

    @router.get("/api/metrics/resolution.csv", tags=["agent"])
    def resolution_csv(period: Literal["day", "week"] = Query("day"), _name: str = Depends(agent)) -> Response:
        text = csv_text(desk.outcomes.periods(DAY if period == "day" else WEEK))
        return Response(text, media_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="relais-resolution-{period}.csv"'})

    @router.get("/api/agent/gaps", tags=["agent"])
    def content_gaps(_name: str = Depends(agent)) -> dict:
        """The questions the bot missed, grouped by meaning, most users first, with the agents' replies."""
        return {"gaps": desk.gaps()}

    @router.post("/api/agent/cases", tags=["agent"], responses=ERRORS)
    def save_case(body: CaseRequest, name: str = Depends(agent)) -> dict:
        """Save an eval case: the question, the words the answer must contain, the knowledge entry expected as its source."""
        return {"case": desk.save_case(name, body.question, body.answer_contains, body.knowledge_id, body.conversation_id).public()}

    @router.get("/api/agent/cases", tags=["agent"])
    def cases(_name: str = Depends(agent)) -> dict:
        return {"cases": [c.public() for c in desk.cases.all()]}

    @router.get("/api/agent/cases.jsonl", tags=["agent"])
    def cases_file(_name: str = Depends(agent)) -> Response:
        """The desk's cases as an eval case file (eval/run.py reads it like the others)."""
        text = "".join(json.dumps(c.case(), ensure_ascii=False) + "\n" for c in reversed(desk.cases.all()))
        return Response(text, media_type="application/x-ndjson", headers={"Content-Disposition": 'attachment; filename="desk.jsonl"'})

    @router.get("/api/agent/knowledge", tags=["agent"])
    def knowledge(_name: str = Depends(agent)) -> dict:
        """Every knowledge entry, newest first, with the users it answered since it was saved."""
        return {"entries": desk.knowledge_entries()}

    @router.post("/api/agent/knowledge/{eid}", tags=["agent"], responses=ERRORS)
    def edit(eid: int, body: EntryEdit, name: str = Depends(agent)) -> dict:
        return {"entry": desk.edit_knowledge(eid, name, body.question, body.answer).public()}

    @router.post("/api/agent/knowledge/{eid}/retire", tags=["agent"], responses=ERRORS)
    def retire(eid: int, _name: str = Depends(agent)) -> dict:
        """The entry stops being cited."""
        return {"entry": desk.retire_knowledge(eid).public()}

    return router
