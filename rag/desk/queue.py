"""The queue and who owns a conversation: bot -> waiting -> human -> bot, each move one conditional UPDATE.

Exactly one request, one claim, one close wins however many arrive at once, on one server or many: the UPDATE's
WHERE names the state it moves from (SQLite: under the write lock; PostgreSQL: re-checked on the locked row).
"""

from __future__ import annotations

import statistics

from ..messages import CANCELLED, JOINED, LEFT, WAITING
from .conversations import Conversation, Conversations
from .database import Database
from .events import QUEUE

DEFAULT_WAIT = 120.0  # seconds per place in the queue, until real handling times exist


class Queue:
    def __init__(self, db: Database, conversations: Conversations) -> None:
        self.db, self.conversations = db, conversations

    def request(self, conv: Conversation, reason: str) -> bool:
        """Put the conversation in the queue; False when it was not with the bot (a double click, two tabs)."""
        with self.db.tx() as t:
            moved = t.run("UPDATE conversations SET state = 'waiting', offer = NULL, agent = NULL, updated = :now "
                          "WHERE id = :cid AND state = 'bot'", now=self.db.now(), cid=conv.id)
            if not moved:
                return False
            t.run("INSERT INTO handoffs(conversation_id, reason, requested) VALUES (:cid, :reason, :now)",
                  cid=conv.id, reason=reason, now=self.db.now())
            self.conversations.add_message(t, conv.id, "system", WAITING[conv.lang])
            t.touch(QUEUE)
        return True

    def cancel(self, conv: Conversation) -> None:
        """The user withdraws the request (or leaves the person): the bot answers again."""
        with self.db.tx() as t:
            t.run("UPDATE handoffs SET outcome = :outcome, ended = :now WHERE conversation_id = :cid AND outcome IN ('waiting', 'claimed')",
                  outcome="cancelled" if conv.state == "waiting" else "closed", now=self.db.now(), cid=conv.id)
            self.conversations.update(t, conv.id, state="bot", agent=None)
            self.conversations.add_message(t, conv.id, "system", CANCELLED[conv.lang])
            t.touch(QUEUE)

    def claim(self, cid: str, agent: str) -> bool:
        """Exactly one agent gets a waiting conversation, however many click at once."""
        with self.db.tx() as t:
            won = t.run("UPDATE conversations SET state = 'human', agent = :agent, offer = NULL, updated = :now "
                        "WHERE id = :cid AND state = 'waiting'", agent=agent, now=self.db.now(), cid=cid) == 1
            if won:
                t.run("UPDATE handoffs SET outcome = 'claimed', claimed = :now, agent = :agent WHERE conversation_id = :cid AND outcome = 'waiting'",
                      now=self.db.now(), agent=agent, cid=cid)
                lang = t.value("SELECT lang FROM conversations WHERE id = :cid", cid=cid)
                self.conversations.add_message(t, cid, "system", JOINED[lang].format(agent=agent))
                t.touch(QUEUE)
        return won

    def reply(self, cid: str, agent: str, text: str, client_id: str | None) -> int:
        with self.db.tx() as t:
            mid = self.conversations.add_message(t, cid, "agent", text, author=agent, client_id=client_id)
            t.run("UPDATE handoffs SET first_reply = :now WHERE conversation_id = :cid AND outcome = 'claimed' AND first_reply IS NULL",
                  now=self.db.now(), cid=cid)
        return mid

    def close(self, conv: Conversation, agent: str) -> None:
        with self.db.tx() as t:
            t.run("UPDATE handoffs SET outcome = 'closed', ended = :now WHERE conversation_id = :cid AND outcome = 'claimed'",
                  now=self.db.now(), cid=conv.id)
            self.conversations.update(t, conv.id, state="bot", agent=None, abstentions=0)
            self.conversations.add_message(t, conv.id, "system", LEFT[conv.lang].format(agent=agent))
            t.touch(QUEUE)

    def open_handoff(self, cid: str) -> dict | None:
        return self.db.one("SELECT * FROM handoffs WHERE conversation_id = :cid AND outcome IN ('waiting', 'claimed') ORDER BY id DESC",
                           cid=cid)

    def position(self, handoff: dict) -> int:
        """1 = next in the queue."""
        return 1 + self.db.value("SELECT COUNT(*) FROM handoffs WHERE outcome = 'waiting' AND id < :id", id=handoff["id"])

    def typical_wait(self) -> float:
        """Median seconds between request and claim over the last 50 claims."""
        waits = [r["wait"] for r in self.db.all(
            "SELECT claimed - requested AS wait FROM handoffs WHERE claimed IS NOT NULL ORDER BY id DESC LIMIT 50")]
        return statistics.median(waits) if waits else DEFAULT_WAIT

    def waiting(self) -> int:
        return self.db.value("SELECT COUNT(*) FROM conversations WHERE state = 'waiting'")

    def listing(self, agent: str) -> list[dict]:
        """Waiting conversations and the ones this agent holds, with the open handoff and the last user message."""
        return self.db.all(
            """SELECT c.id, c.state, c.agent, c.lang, h.reason, COALESCE(h.requested, c.updated) AS requested,
                      (SELECT m.text FROM messages m WHERE m.conversation_id = c.id AND m.role = 'user'
                       ORDER BY m.id DESC LIMIT 1) AS last_user_message
               FROM conversations c
               LEFT JOIN handoffs h ON h.conversation_id = c.id AND h.outcome IN ('waiting', 'claimed')
               WHERE c.state = 'waiting' OR (c.state = 'human' AND c.agent = :agent)""",
            agent=agent,
        )

    def handoffs(self, since: float = 0.0) -> list[dict]:
        return self.db.all("SELECT * FROM handoffs WHERE requested >= :since ORDER BY id", since=since)
