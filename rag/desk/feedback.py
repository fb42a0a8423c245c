"""Thumbs up or down on the bot's answers (a thumbs down with its reason), and the user's answer to "Did this answer
your question?"; a thumbs down or a no makes the bot offer a person next time."""

from __future__ import annotations

from .database import Database

REASONS = ("wrong", "incomplete", "not_my_question")  # why a thumbs down


class Feedback:
    def __init__(self, db: Database) -> None:
        self.db = db

    def set(self, cid: str, message_id: int, value: int, reason: str | None = None) -> None:
        """A vote; a later one replaces it (a thumbs down's reason may come with a second call)."""
        reason = reason if value < 0 and reason in REASONS else None
        with self.db.tx() as t:
            t.run("INSERT INTO feedback(message_id, conversation_id, value, created, reason) VALUES (:mid, :cid, :value, :now, :reason) "
                  "ON CONFLICT(message_id) DO UPDATE SET value = excluded.value, created = excluded.created, reason = excluded.reason",
                  mid=message_id, cid=cid, value=value, now=self.db.now(), reason=reason)
            t.run("UPDATE conversations SET disliked = :disliked WHERE id = :cid", disliked=int(value < 0), cid=cid)

    def confirm(self, cid: str, message_id: int, resolved: bool) -> None:
        """The user's yes (the answer resolved it) or no to "Did this answer your question?"; a later one replaces it."""
        with self.db.tx() as t:
            t.run("INSERT INTO confirmations(message_id, conversation_id, value, created) VALUES (:mid, :cid, :value, :now) "
                  "ON CONFLICT(message_id) DO UPDATE SET value = excluded.value, created = excluded.created",
                  mid=message_id, cid=cid, value=1 if resolved else -1, now=self.db.now())
            t.run("UPDATE conversations SET disliked = :disliked WHERE id = :cid", disliked=int(not resolved), cid=cid)

    def confirmed(self, message_id: int) -> bool | None:
        """The user's answer to "Did this answer your question?" for a bot answer: True, False, or None (not asked yet)."""
        row = self.db.one("SELECT value FROM confirmations WHERE message_id = :mid", mid=message_id)
        return None if row is None else row["value"] > 0

    def counts(self) -> dict[str, int]:
        row = self.db.one("SELECT SUM(CASE WHEN value > 0 THEN 1 ELSE 0 END) AS up, SUM(CASE WHEN value < 0 THEN 1 ELSE 0 END) AS down "
                          "FROM feedback")
        return {"up": row["up"] or 0, "down": row["down"] or 0}

    def reasons(self) -> dict[str, int]:
        """Thumbs down by reason (`unsaid`: none given)."""
        rows = self.db.all("SELECT COALESCE(reason, 'unsaid') AS reason, COUNT(*) AS n FROM feedback WHERE value < 0 GROUP BY 1")
        return {r["reason"]: r["n"] for r in rows}
