"""How each conversation ended, and the automated resolution rate: one SQL statement, the same on SQLite and PostgreSQL.

A conversation (one with a user message) ends in one outcome, decided in this order:
- `person`: an agent replied in it (resolved by a person);
- `abandoned`: it was handed off and nobody replied (left waiting), once the window has passed;
- `unresolved`: the user said no to "Did this answer your question?" or gave a thumbs down, or the bot's last answer
  was no answer (an abstention, or only the closest passages) once the window has passed;
- `bot_confirmed`: the user said yes to "Did this answer your question?" after a bot answer;
- `bot_assumed`: none of the above and nothing new within the window (RAG_RESOLUTION_WINDOW_HOURS, 24 h by default:
  Intercom's rule) after its last message;
- `open`: too recent to tell. Open conversations are left out of the rates.
The automated resolution rate is (bot_confirmed + bot_assumed) / decided conversations, given confirmed and assumed apart.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from .database import Database

OUTCOMES = ("bot_confirmed", "bot_assumed", "person", "abandoned", "unresolved", "open")
DAY = 86400.0
WEEK = 7 * DAY
MONDAY = 4 * DAY  # 1970-01-01 was a Thursday: weeks counted from Monday, 00:00 UTC

# the bot's last answer in the conversation said nothing (its stored JSON says which; one stored before outcomes
# existed is an abstention when it says so)
_NO_ANSWER = """(last_answer LIKE '%"outcome": "closest"%' OR last_answer LIKE '%"outcome": "abstain"%'
                 OR (last_answer NOT LIKE '%"outcome"%' AND last_answer LIKE '%"abstained": true%'))"""

_PER_CONVERSATION = f"""
SELECT id, created, CASE
    WHEN person THEN 'person'
    WHEN handed AND quiet THEN 'abandoned'
    WHEN handed THEN 'open'
    WHEN said_no OR down THEN 'unresolved'
    WHEN said_yes THEN 'bot_confirmed'
    WHEN NOT quiet THEN 'open'
    WHEN last_answer IS NULL OR {_NO_ANSWER} THEN 'unresolved'
    ELSE 'bot_assumed' END AS outcome
FROM (
    SELECT c.id, c.created,
        EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.role = 'agent') AS person,
        EXISTS (SELECT 1 FROM handoffs h WHERE h.conversation_id = c.id) AS handed,
        EXISTS (SELECT 1 FROM feedback f WHERE f.conversation_id = c.id AND f.value < 0) AS down,
        EXISTS (SELECT 1 FROM confirmations k WHERE k.conversation_id = c.id AND k.value > 0) AS said_yes,
        EXISTS (SELECT 1 FROM confirmations k WHERE k.conversation_id = c.id AND k.value < 0) AS said_no,
        (SELECT MAX(m.created) FROM messages m WHERE m.conversation_id = c.id) <= :quiet_since AS quiet,
        (SELECT m.answer FROM messages m WHERE m.conversation_id = c.id AND m.role = 'bot' AND m.answer IS NOT NULL
         ORDER BY m.id DESC LIMIT 1) AS last_answer
    FROM conversations c
    WHERE c.created >= :since AND EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.role = 'user')
) AS facts
"""


@dataclass(frozen=True)
class Period:
    """The outcomes of the conversations started in one day or week (UTC), and its resolution rates."""

    start: float  # seconds since the epoch
    counts: dict[str, int]

    @property
    def decided(self) -> int:
        return sum(n for k, n in self.counts.items() if k != "open")

    def rate(self, *outcomes: str) -> float | None:
        return round(sum(self.counts[k] for k in outcomes) / self.decided, 3) if self.decided else None

    def row(self) -> dict:
        return {"start": time.strftime("%Y-%m-%d", time.gmtime(self.start)), **self.counts, "decided": self.decided,
                "resolution_rate": self.rate("bot_confirmed", "bot_assumed"),
                "confirmed_rate": self.rate("bot_confirmed"), "assumed_rate": self.rate("bot_assumed")}


class Outcomes:
    def __init__(self, db: Database, window: float = DAY) -> None:
        """`window`: seconds without a new message after which a quiet conversation is taken as ended."""
        self.db, self.window = db, window

    def each(self, since: float = 0.0) -> dict[str, str]:
        """Every conversation started since `since` (with a user message): its outcome."""
        rows = self.db.all(_PER_CONVERSATION, since=since, quiet_since=self.db.now() - self.window)
        return {r["id"]: r["outcome"] for r in rows}

    def periods(self, size: float = DAY, since: float = 0.0) -> list[Period]:
        """Outcomes per day (size=DAY) or per week (size=WEEK, from Monday), oldest first, empty periods included."""
        rows = self.db.all(_PER_CONVERSATION, since=since, quiet_since=self.db.now() - self.window)
        offset = MONDAY if size == WEEK else 0.0
        buckets: dict[float, dict[str, int]] = {}
        for r in rows:
            start = (r["created"] - offset) // size * size + offset
            buckets.setdefault(start, dict.fromkeys(OUTCOMES, 0))[r["outcome"]] += 1
        if not buckets:
            return []
        first, last = min(buckets), max(buckets)
        return [Period(s, buckets.get(s, dict.fromkeys(OUTCOMES, 0))) for s in _range(first, last, size)]

    def total(self, since: float = 0.0) -> Period:
        counts = dict.fromkeys(OUTCOMES, 0)
        for outcome in self.each(since).values():
            counts[outcome] += 1
        return Period(since, counts)


def _range(first: float, last: float, step: float) -> list[float]:
    n = round((last - first) / step)
    return [first + i * step for i in range(n + 1)]


def csv_text(periods: list[Period]) -> str:
    """The periods as CSV: start date, each outcome, decided, the three rates."""
    head = ["start", *OUTCOMES, "decided", "resolution_rate", "confirmed_rate", "assumed_rate"]
    lines = [",".join(head)]
    for p in periods:
        row = p.row()
        lines.append(",".join("" if row[k] is None else str(row[k]) for k in head))
    return "\n".join(lines) + "\n"
