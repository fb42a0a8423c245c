"""Agents' presence: who is online (a console seen in the last ONLINE_WINDOW seconds, not signed off)."""

from __future__ import annotations

from .database import Database
from .events import QUEUE

ONLINE_WINDOW = 30.0  # seconds: an agent whose console has not been seen for this long counts as offline


class Presence:
    def __init__(self, db: Database) -> None:
        self.db = db

    def heartbeat(self, name: str, online: bool | None = None) -> None:
        """The console is open (`seen` now); `online` set when the agent switches availability."""
        now = self.db.now()
        with self.db.tx() as t:
            t.run("INSERT INTO agents(name, online, seen) VALUES (:name, 0, :now) ON CONFLICT(name) DO UPDATE SET seen = :now",
                  name=name, now=now)
            if online is not None and t.run("UPDATE agents SET online = :online WHERE name = :name AND online <> :online",
                                            online=int(online), name=name):
                t.touch(QUEUE)  # waiting users see how many people are there

    def online(self) -> int:
        return self.db.value("SELECT COUNT(*) FROM agents WHERE online = 1 AND seen > :since", since=self.db.now() - ONLINE_WINDOW)
