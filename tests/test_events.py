"""What wakes the live streams: topics, commits (not before), and the same across servers through PostgreSQL."""

from __future__ import annotations

import asyncio
import time

from rag.desk import Database, Desk
from rag.desk.events import EVERYTHING, QUEUE, Hub, conversation_topic
from rag.desk.guards import LoginLimiter, SharedRateLimiter
from rag.desk.shared import Shared


class SilentPipeline:
    def suspicious(self, limit=50):
        return []  # no corpus, nothing flagged

    def stream(self, question, history=None):
        raise AssertionError("no answer expected")


def test_publish_wakes_the_subscribers_of_its_topics_only():
    async def scenario():
        hub = Hub()
        a, b, console = hub.subscribe([conversation_topic("a")]), hub.subscribe([conversation_topic("b"), QUEUE]), hub.subscribe([EVERYTHING])
        hub.publish([conversation_topic("a")])
        woken = [await s.wait(0.2) for s in (a, b, console)]
        for s in (a, b, console):
            s.clear()
        hub.publish([QUEUE])
        return woken, [await s.wait(0.2) for s in (a, b, console)]

    assert asyncio.run(scenario()) == ([True, False, True], [False, True, True])


def test_a_write_wakes_its_conversation_after_commit_on_each_backend(database):
    desk = Desk(SilentPipeline(), database, "unused")
    cid = desk.start()

    async def scenario():
        sub = database.hub.subscribe([conversation_topic(cid)])
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, desk.request_human, cid)
        woke = await sub.wait(5)
        sub.clear()
        return woke, await sub.wait(0.3)

    assert asyncio.run(scenario()) == (True, False)  # woken once, then quiet


def test_another_servers_write_wakes_this_server_through_postgresql(postgres_url):
    a, b = Database(postgres_url), Database(postgres_url)  # two servers: separate pools, hubs and LISTEN connections
    try:
        cid = Desk(SilentPipeline(), a, "unused").start()

        async def scenario():
            sub = b.hub.subscribe([conversation_topic(cid)])
            await asyncio.sleep(0.5)  # b's listener is connected
            await asyncio.get_running_loop().run_in_executor(None, Desk(SilentPipeline(), a, "unused").request_human, cid)
            return await sub.wait(5)

        assert asyncio.run(scenario())
    finally:
        a.close()
        b.close()


def test_rate_limits_and_failed_sign_ins_are_counted_across_servers(postgres_url):
    a, b = Database(postgres_url), Database(postgres_url)
    if 60 - time.time() % 60 < 3:  # the limits count fixed one-minute windows: start well inside one
        time.sleep(3.5)
    try:
        on_a, on_b = SharedRateLimiter(Shared(a), 3, "chat"), SharedRateLimiter(Shared(b), 3, "chat")
        assert [on_a.retry_after("10.0.0.1"), on_b.retry_after("10.0.0.1"), on_a.retry_after("10.0.0.1")] == [0, 0, 0]
        assert on_b.retry_after("10.0.0.1") > 0 and on_a.retry_after("10.0.0.2") == 0  # the 4th, whichever server
        logins_a, logins_b = LoginLimiter(2, 100, shared=Shared(a)), LoginLimiter(2, 100, shared=Shared(b))
        logins_a.failed("10.0.0.3", "alice")
        logins_b.failed("10.0.0.3", "alice")
        assert logins_a.retry_after("10.0.0.3", "alice") > 0 and logins_b.retry_after("10.0.0.3", "alice") > 0
    finally:
        a.close()
        b.close()
