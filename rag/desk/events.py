"""What wakes the live streams (server-sent events): a topic per conversation, `queue` for the whole queue.

`Hub.publish` is called after a write commits: in-process with SQLite, from the PostgreSQL listener (LISTEN/NOTIFY)
on every server otherwise. A woken stream re-reads the database, so a wake-up carries no data and a missed one
only delays (streams also re-read on their keep-alive tick).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable

QUEUE = "queue"  # queue order, positions, agents online: every waiting conversation and every console
EVERYTHING = "*"  # the agents' consoles: any change


def conversation_topic(cid: str) -> str:
    return f"c:{cid}"


class Subscription:
    def __init__(self, topics: set[str]) -> None:
        self.topics = topics
        self.loop = asyncio.get_running_loop()
        self.flag = asyncio.Event()

    async def wait(self, timeout: float) -> bool:
        """True when something was published since the last `clear`, False after `timeout` seconds of quiet."""
        try:
            await asyncio.wait_for(self.flag.wait(), timeout)
            return True
        except TimeoutError:
            return False

    def clear(self) -> None:
        """Call before reading the database: a publish after this point wakes the next `wait`."""
        self.flag.clear()


class Hub:
    def __init__(self) -> None:
        self._subs: set[Subscription] = set()
        self._lock = threading.Lock()

    def subscribe(self, topics: Iterable[str]) -> Subscription:
        sub = Subscription(set(topics))
        with self._lock:
            self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            self._subs.discard(sub)

    def publish(self, topics: Iterable[str]) -> None:
        """Thread-safe: wakes the subscriptions to any of `topics` (and the ones to everything)."""
        topics = set(topics)
        wake_all = EVERYTHING in topics
        with self._lock:
            woken = [s for s in self._subs if wake_all or EVERYTHING in s.topics or s.topics & topics]
        for sub in woken:
            try:
                sub.loop.call_soon_threadsafe(sub.flag.set)
            except RuntimeError:  # its event loop has closed: the stream is gone
                self.unsubscribe(sub)

    @property
    def listeners(self) -> int:
        return len(self._subs)
