"""Thumbs up or down on the bot's answers; a thumbs down makes the bot offer a person next time."""

from __future__ import annotations

from .database import Database


class Feedback:
    def __init__(self, db: Database) -> None:
        self.db = db

    def set(self, cid: str, message_id: int, value: int) -> None:
        with self.db.tx() as t:
            t.run("INSERT INTO feedback(message_id, conversation_id, value, created) VALUES (:mid, :cid, :value, :now) "
                  "ON CONFLICT(message_id) DO UPDATE SET value = excluded.value, created = excluded.created",
                  mid=message_id, cid=cid, value=value, now=self.db.now())
            t.run("UPDATE conversations SET disliked = :disliked WHERE id = :cid", disliked=int(value < 0), cid=cid)

    def counts(self) -> dict[str, int]:
        row = self.db.one("SELECT SUM(CASE WHEN value > 0 THEN 1 ELSE 0 END) AS up, SUM(CASE WHEN value < 0 THEN 1 ELSE 0 END) AS down "
                          "FROM feedback")
        return {"up": row["up"] or 0, "down": row["down"] or 0}
