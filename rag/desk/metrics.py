"""The console's figures: containment, handoffs and their reasons, waits, feedback, outcomes and the resolution rate
(rag/desk/outcomes.py), tickets, agents online."""

from __future__ import annotations

import statistics

from .database import Database
from .feedback import Feedback
from .outcomes import Outcomes
from .presence import Presence
from .queue import Queue
from .tickets import Tickets


def desk_metrics(db: Database, queue: Queue, feedback: Feedback, tickets: Tickets, presence: Presence, outcomes: Outcomes) -> dict:
    conversations = db.value("SELECT COUNT(DISTINCT conversation_id) FROM messages WHERE role = 'user'")
    escalated = db.value("SELECT COUNT(DISTINCT conversation_id) FROM handoffs")
    handoffs = queue.handoffs()
    by_reason: dict[str, int] = {}
    for h in handoffs:
        by_reason[h["reason"]] = by_reason.get(h["reason"], 0) + 1
    waits = [h["claimed"] - h["requested"] for h in handoffs if h["claimed"]]
    firsts = [h["first_reply"] - h["requested"] for h in handoffs if h["first_reply"]]
    votes = feedback.counts()
    # the bot's answers by outcome (rag.calibration), in one pass: the JSON each answer is stored as says which; one
    # stored before outcomes existed is an abstention when it says so, else an answer
    answers = {"answer": 0, "closest": 0, "abstain": 0} | {r["outcome"]: r["n"] for r in db.all(
        """SELECT CASE WHEN answer LIKE '%"outcome": "closest"%' THEN 'closest'
                       WHEN answer LIKE '%"outcome": "abstain"%'
                            OR (answer NOT LIKE '%"outcome"%' AND answer LIKE '%"abstained": true%') THEN 'abstain'
                       ELSE 'answer' END AS outcome, COUNT(*) AS n
           FROM messages WHERE role = 'bot' AND answer IS NOT NULL GROUP BY 1""")}
    rated = votes["up"] + votes["down"]
    total = outcomes.total()
    return {
        "conversations": conversations,
        "containment": round(1 - escalated / conversations, 3) if conversations else None,
        "handoffs": len(handoffs),
        "handoffs_by_reason": by_reason,
        "answers_by_outcome": answers,
        "waiting_now": queue.waiting(),
        "median_wait_s": round(statistics.median(waits), 1) if waits else None,
        "median_first_human_reply_s": round(statistics.median(firsts), 1) if firsts else None,
        "feedback_up": votes["up"],
        "feedback_down": votes["down"],
        "thumbs_up_rate": round(votes["up"] / rated, 3) if rated else None,
        "thumbs_down_reasons": feedback.reasons(),
        "outcomes": total.counts,
        "resolution_rate": total.rate("bot_confirmed", "bot_assumed"),
        "resolution_rate_confirmed": total.rate("bot_confirmed"),
        "resolution_rate_assumed": total.rate("bot_assumed"),
        "tickets": tickets.count(),
        "agents_online": presence.online(),
    }
