"""What every server must agree on, kept in the database: shared values (the sessions' key) and rate-limit windows."""

from __future__ import annotations

import secrets

from .database import Database


class Shared:
    def __init__(self, db: Database) -> None:
        self.db = db

    def value(self, key: str, default: str) -> str:
        """The stored value of `key`; the first server to ask stores `default` (every later one reads that)."""
        with self.db.tx() as t:
            t.run("INSERT INTO shared(key, value) VALUES (:key, :value) ON CONFLICT(key) DO NOTHING", key=key, value=default)
            return t.value("SELECT value FROM shared WHERE key = :key", key=key)

    def hit(self, bucket: str, window: int = 60, count: bool = True) -> tuple[int, float]:
        """Hits in `bucket`'s current fixed window (this one included when `count`), and seconds until it ends."""
        now = self.db.now()
        start = int(now // window * window)
        with self.db.tx() as t:
            if count:
                t.run("INSERT INTO rate_windows(bucket, window_start, hits) VALUES (:b, :w, 1) "
                      "ON CONFLICT(bucket, window_start) DO UPDATE SET hits = rate_windows.hits + 1", b=bucket, w=start)
            hits = t.value("SELECT hits FROM rate_windows WHERE bucket = :b AND window_start = :w", b=bucket, w=start) or 0
            if secrets.randbelow(200) == 0:  # now and then, forget windows that have ended
                t.run("DELETE FROM rate_windows WHERE window_start < :old", old=start - 10 * window)
        return hits, start + window - now
