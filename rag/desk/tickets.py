"""Tickets: with no person available, the user leaves a message and a contact."""

from __future__ import annotations

from ..messages import TICKET
from .conversations import Conversation, Conversations, DuplicateMessage
from .database import Database
from .events import QUEUE


class Tickets:
    def __init__(self, db: Database, conversations: Conversations) -> None:
        self.db, self.conversations = db, conversations

    def leave(self, conv: Conversation, contact: str, message: str, client_id: str | None = None) -> None:
        """Store the message and the ticket together; a retry (same client id) stores nothing twice."""
        with self.db.tx() as t:
            try:
                self.conversations.add_message(t, conv.id, "user", message, client_id=client_id)
            except DuplicateMessage:
                return
            t.run("INSERT INTO tickets(conversation_id, created, contact, message) VALUES (:cid, :now, :contact, :message)",
                  cid=conv.id, now=self.db.now(), contact=contact, message=message)
            self.conversations.add_message(t, conv.id, "system", TICKET[conv.lang].format(contact=contact))
            t.touch(QUEUE)

    def recent(self, limit: int = 50) -> list[dict]:
        return self.db.all("SELECT * FROM tickets ORDER BY id DESC LIMIT :limit", limit=limit)

    def count(self) -> int:
        return self.db.value("SELECT COUNT(*) FROM tickets")
