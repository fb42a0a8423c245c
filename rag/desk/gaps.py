"""Content gaps: the questions the bot abstained on, answered with its closest passages only, handed off, or got a
thumbs down (or a "no") for, grouped by
meaning (rag/desk/similar.py: near-duplicates in any phrasing or language), ranked by how many users hit them and how
recently, each with the agents' replies that resolved it."""

from __future__ import annotations

import json
from dataclasses import dataclass

from ..similar import Matcher
from .conversations import stored_outcome
from .database import Database

# a bot answer that said nothing (the JSON it is stored as says which)
_NO_ANSWER = """(m.answer LIKE '%"outcome": "closest"%' OR m.answer LIKE '%"outcome": "abstain"%'
                 OR (m.answer NOT LIKE '%"outcome"%' AND m.answer LIKE '%"abstained": true%'))"""


@dataclass(frozen=True)
class Missed:
    """One question the bot did not resolve."""

    conversation_id: str
    message_id: int
    text: str
    asked: float
    why: str  # abstained | closest (closest passages, no claim) | handoff | disliked


@dataclass(frozen=True)
class Gap:
    questions: tuple[Missed, ...]  # newest first
    replies: tuple[dict, ...]  # the agents' replies in those conversations after the question: agent, text, conversation_id, id

    @property
    def users(self) -> int:
        return len({q.conversation_id for q in self.questions})

    @property
    def last(self) -> float:
        return max(q.asked for q in self.questions)

    def public(self) -> dict:
        whys: dict[str, int] = {}
        for q in self.questions:
            whys[q.why] = whys.get(q.why, 0) + 1
        return {"question": self.questions[0].text, "users": self.users, "last": self.last, "why": whys,
                "questions": [q.__dict__ for q in self.questions], "replies": list(self.replies)}


def missed(db: Database, since: float = 0.0) -> tuple[list[Missed], dict[str, list[dict]]]:
    """The questions the bot did not resolve since `since`, and each such conversation's agent replies."""
    rows = db.all(f"""
        SELECT m.id, m.conversation_id, m.created, m.role, m.author, m.text, m.answer FROM messages m
        WHERE m.conversation_id IN (
            SELECT conversation_id FROM handoffs
            UNION SELECT conversation_id FROM feedback WHERE value < 0
            UNION SELECT conversation_id FROM confirmations WHERE value < 0
            UNION SELECT m.conversation_id FROM messages m WHERE m.role = 'bot' AND {_NO_ANSWER})
          AND m.created >= :since
        ORDER BY m.conversation_id, m.id""", since=since)
    disliked = {r["message_id"] for r in db.all(
        "SELECT message_id FROM feedback WHERE value < 0 UNION SELECT message_id FROM confirmations WHERE value < 0")}
    requested: dict[str, list[float]] = {}
    for r in db.all("SELECT conversation_id, requested FROM handoffs WHERE requested >= :since", since=since):
        requested.setdefault(r["conversation_id"], []).append(r["requested"])
    found: dict[tuple[int, str], Missed] = {}
    replies: dict[str, list[dict]] = {}
    by_conversation: dict[str, list[dict]] = {}
    for r in rows:
        by_conversation.setdefault(r["conversation_id"], []).append(r)
    for cid, messages in by_conversation.items():
        question = pending = None
        asked: list[dict] = []  # the user's real questions (not a request for a person), in order
        for m in messages:
            if m["role"] == "user":
                pending = m
            elif m["role"] == "bot" and pending is not None:
                answer = json.loads(m["answer"]) if m["answer"] else {}
                if answer.get("handoff") != "requested":
                    question = pending
                    asked.append(question)
                    why = _no_answer(answer)
                    if why:
                        found.setdefault((question["id"], why), _missed(question, why))
                    if m["id"] in disliked:
                        found.setdefault((question["id"], "disliked"), _missed(question, "disliked"))
                pending = None
            elif m["role"] == "agent":
                replies.setdefault(cid, []).append({"id": m["id"], "conversation_id": cid, "agent": m["author"], "text": m["text"],
                                                    "created": m["created"]})
        for t in requested.get(cid, []):  # the question before the request; else the user's last words before it
            before = [q for q in asked if q["created"] <= t] or [m for m in messages if m["role"] == "user" and m["created"] <= t]
            if before:
                found.setdefault((before[-1]["id"], "handoff"), _missed(before[-1], "handoff"))
    return list(found.values()), replies


def gaps(db: Database, matcher: Matcher | None, since: float = 0.0, limit: int = 50) -> list[Gap]:
    """The content gaps, most users first, then most recent; one question met for several reasons counts once."""
    found, replies = missed(db, since)
    unique: dict[int, Missed] = {}
    for q in sorted(found, key=lambda q: ("handoff", "abstained", "closest", "disliked").index(q.why)):
        unique.setdefault(q.message_id, q)
    questions = sorted(unique.values(), key=lambda q: -q.asked)
    groups = group(questions, matcher)
    result = []
    for members in groups:
        first = {}
        for q in members:
            first[q.conversation_id] = min(first.get(q.conversation_id, q.message_id), q.message_id)
        said = tuple(r for cid, rs in replies.items() if cid in first for r in rs if r["id"] > first[cid])
        result.append(Gap(tuple(members), said))
    return sorted(result, key=lambda g: (-g.users, -g.last))[:limit]


def group(questions: list[Missed], matcher: Matcher | None) -> list[list[Missed]]:
    """Each question joins the group holding its most similar question when that one is close enough (single link),
    else starts one; without a fitted matcher, only the same words (case and spacing aside) group."""
    groups: list[list[Missed]] = []
    if matcher is None or not matcher.ready:
        by_text: dict[str, list[Missed]] = {}
        for q in questions:
            by_text.setdefault(" ".join(q.text.lower().split()), []).append(q)
        return list(by_text.values())
    vectors = matcher.vectors([q.text for q in questions])
    owner: list[int] = []  # group index of each question so far
    for i, q in enumerate(questions):
        best, best_sim = None, None
        for j in range(i):
            sim = float(vectors[i] @ vectors[j])
            if matcher.same(vectors[i], vectors[j]) and (best_sim is None or sim > best_sim):
                best, best_sim = owner[j], sim
        if best is None:
            owner.append(len(groups))
            groups.append([q])
        else:
            owner.append(best)
            groups[best].append(q)
    return groups


def _no_answer(answer: dict) -> str | None:
    """Why a bot answer resolved nothing: "abstained", "closest" (closest passages shown, no claim), or None (an answer)."""
    return {"abstain": "abstained", "closest": "closest"}.get(stored_outcome(answer))


def _missed(m: dict, why: str) -> Missed:
    return Missed(m["conversation_id"], m["id"], m["text"], m["created"], why)
