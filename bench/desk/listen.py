"""2. Listeners: push (one SSE stream each) against polling (the widget's 1.5 s loop), while an agent replies; then one
queue change that wakes every stream (the fan-out)."""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from eval.metrics import percentile

from .calibrate import OpCost, cost_of
from .clients import KeepAliveGet, cancel_all, client, handed_off, sign_in, sse
from .measure import BenchDatabase, Meter, Usage, idle_app_cpu, pg_delta
from .plan import POLL_SECONDS, Plan
from .servers import app_servers


class Window:
    """What happens while the measuring window is open: requests by kind, keep-alives, reply deliveries."""

    def __init__(self) -> None:
        self.open = False
        self.requests: dict[str, int] = {}
        self.keepalives = 0
        self.sent: dict[int, float] = {}  # reply number -> when it was sent (only replies sent in the window)
        self.latencies: list[float] = []
        self.durations: list[float] = []  # ms per request, for the requests the window is about (polls, or replies)
        self.errors = 0

    def request(self, kind: str) -> None:
        if self.open:
            self.requests[kind] = self.requests.get(kind, 0) + 1

    def took(self, since: float, ok: bool) -> None:
        if self.open:
            self.durations.append((time.perf_counter() - since) * 1000)
            self.errors += not ok

    def comment(self) -> None:
        if self.open:
            self.keepalives += 1

    def reply_sent(self, number: int) -> None:
        if self.open:
            self.sent[number] = time.perf_counter()

    def message(self, data: dict) -> None:
        if data.get("role") == "agent" and data["text"].startswith("bench "):
            sent = self.sent.pop(int(data["text"].split()[1]), None)
            if sent is not None:
                self.latencies.append((time.perf_counter() - sent) * 1000)


@dataclass
class ListenRow:
    database: str
    mode: str  # push | poll
    listeners: int
    seconds: float
    http_requests_per_s: float
    reads_per_s: float  # database re-reads of a conversation: polls, or SSE wake-ups and keep-alive ticks
    db_tx_per_s: float | str
    db_tx_how: str
    pg_sessions: int | str  # new PostgreSQL connections opened during the window
    app_cpu_pct: int
    postgres_cpu_pct: int | str
    bench_cpu_pct: int
    others_cpu_pct: int
    request_p50_ms: float  # the polls' response time (poll), the replies' (push)
    request_errors: int
    replies: int
    delivered: int
    p50_ms: float  # delivery: from the agent's POST to the listener's reading the reply
    p95_ms: float
    app_cpu_ms_per_read: float  # the app's CPU in the window, less its idle CPU, per read (replies included)
    app_idle_cpu_pct: int  # the app's CPU with no request at all (measured before the phases)
    postgres_cpu_ms_per_tx: float | str = "-"
    fan_out_s: str = "-"  # one queue change (the agent goes offline) wakes every stream: p50/p95/max s until each has it
    fan_out_cpu_ms_per_stream: float | str = "-"  # app CPU of that queue change, per stream woken (one SSE re-read)


async def reply(agent: httpx.AsyncClient, cid: str, number: int, window: Window, count_time: bool) -> None:
    """One agent reply; a dropped connection is retried once with the same idempotency key (stored once either way)."""
    body = {"text": f"bench {number}", "client_message_id": uuid.uuid4().hex}  # numbers restart with each phase
    t = time.perf_counter()
    for attempt in (1, 2):
        try:
            ok = (await agent.post(f"/api/agent/conversations/{cid}/reply", json=body)).status_code == 200
            break
        except httpx.TransportError:  # e.g. uvicorn closed an idle keep-alive connection as this request went out
            ok = False
    if count_time:
        window.took(t, ok)


async def agent_loop(agent: httpx.AsyncClient, cids: list[str], rate: float, window: Window, stop: asyncio.Event,
                     time_replies: bool) -> None:
    """Reply in `rate` conversations a second, round the shuffled list; a heartbeat every 10 s keeps the agent online."""
    order = random.Random(7).sample(cids, len(cids))
    pending: set[asyncio.Task] = set()
    started, number, last_beat = time.perf_counter(), 0, time.perf_counter()
    while not stop.is_set():
        await asyncio.sleep(max(0.0, started + number / rate - time.perf_counter()))
        window.reply_sent(number)
        window.request("reply")
        task = asyncio.create_task(reply(agent, order[number % len(order)], number, window, time_replies))
        pending.add(task)
        task.add_done_callback(pending.discard)
        number += 1
        if time.perf_counter() - last_beat > 10:
            last_beat = time.perf_counter()
            window.request("presence")
            await agent.post("/api/agent/presence", json={"online": True})
    await asyncio.gather(*pending, return_exceptions=True)


def start_streams(http: httpx.AsyncClient, cids: list[str], window: Window, statuses: dict[str, dict]) -> list[asyncio.Task]:
    def handler(cid: str) -> Callable[[str, str], None]:
        def handle(event: str, data: str) -> None:
            if event == "comment":
                window.comment()
            elif event == "message":
                window.message(json.loads(data))
            elif event == "status":
                statuses[cid] = {**json.loads(data), "at": time.perf_counter()}
        return handle

    return [asyncio.create_task(sse(http, cid, handler(cid))) for cid in cids]


async def open_streams(http: httpx.AsyncClient, cids: list[str], window: Window, statuses: dict[str, dict],
                       ramp: float) -> list[asyncio.Task]:
    """One SSE stream per conversation, opened evenly over `ramp` seconds."""
    tasks = []
    for i, cid in enumerate(cids):
        tasks += start_streams(http, [cid], window, statuses)
        await asyncio.sleep(ramp / len(cids))
    deadline = time.perf_counter() + 30
    while len(statuses) < len(cids) and time.perf_counter() < deadline:  # every stream has had its first read
        await asyncio.sleep(0.1)
    return tasks


async def poller(url: str, cid: str, window: Window) -> None:
    """The widget's loop: GET messages after the last one seen, every 1.5 s (from a random phase)."""
    await asyncio.sleep(random.uniform(0, POLL_SECONDS))
    http = KeepAliveGet(url)
    last, tick = 0, time.perf_counter()
    try:
        while True:
            last = await poll_once(http, cid, last, window)
            tick = max(tick + POLL_SECONDS, time.perf_counter())  # a late poll is not made up for
            await asyncio.sleep(tick - time.perf_counter())
    finally:
        http.close()


async def poll_once(http: KeepAliveGet, cid: str, last: int, window: Window) -> int:
    window.request("poll")
    t, ok = time.perf_counter(), False
    try:
        status, body = await http.get(f"/api/conversations/{cid}/messages?after={last}")
        for m in json.loads(body)["messages"]:
            last = m["id"]
            window.message(m)
        ok = status == 200
    except (OSError, asyncio.IncompleteReadError, ValueError, KeyError):
        pass
    window.took(t, ok)
    return last


@dataclass(frozen=True)
class FanOut:
    seconds: str  # "p50/p95/max (received/streams)"
    cpu_ms_per_stream: float


async def fan_out(agent: httpx.AsyncClient, statuses: dict[str, dict], meter: Meter, background: float) -> FanOut:
    """The agent goes offline: a queue change, which wakes every stream; how long until each has re-read, and the CPU
    (less `background`, the app's CPU seconds per second before it: keep-alive ticks go on meanwhile)."""
    start = meter.snapshot()
    sent = time.perf_counter()
    await agent.post("/api/agent/presence", json={"online": False})
    deadline = sent + 20
    while time.perf_counter() < deadline:
        seen = [s["at"] - sent for s in statuses.values() if s["at"] > sent and s["agents_online"] == 0]
        if len(seen) == len(statuses):
            break
        await asyncio.sleep(0.05)
    usage = Meter.usage(start, meter.snapshot())
    if not seen:
        return FanOut(f"none of {len(statuses)} in 20 s", 0.0)
    return FanOut(f"{percentile(seen, 0.5):.2f}/{percentile(seen, 0.95):.2f}/{max(seen):.2f} ({len(seen)}/{len(statuses)})",
                  round(1000 * max(0.0, usage.app - background * usage.seconds) / len(seen), 2))


async def listen_phase(db: BenchDatabase, url: str, cids: list[str], mode: str, rate: float, plan: Plan, meter: Meter,
                       idle: float, costs: list[OpCost]) -> ListenRow:
    """Listeners on `cids` (`mode`: push or poll) while the agent replies `rate` times a second."""
    window, statuses, stop = Window(), {}, asyncio.Event()
    async with client(url) as agent, client(url) as listeners:
        await sign_in(agent)  # a fresh session, online again
        replies = asyncio.create_task(agent_loop(agent, cids, rate, window, stop, time_replies=mode == "push") if rate
                                      else stop.wait())
        if mode == "push":
            tasks = await open_streams(listeners, cids, window, statuses, plan.ramp)
        else:
            tasks = [asyncio.create_task(poller(url, cid, window)) for cid in cids]
            await asyncio.sleep(POLL_SECONDS + 1)  # every poller has started: steady state
        counters, start = db.counters(), meter.snapshot()
        window.open = True
        await asyncio.sleep(plan.window)
        window.open = False
        usage, delta = Meter.usage(start, meter.snapshot()), pg_delta(counters, db.counters())
        stop.set()
        await replies
        await wait_for_deliveries(window, grace=5.0 if mode == "push" else 15.0)  # the window's last replies reach their listeners
        fanned = await fan_out(agent, statuses, meter, usage.app / usage.seconds) if mode == "push" else None
        await cancel_all(tasks)
    return listen_row(db, mode, len(cids), window, usage, idle, delta, costs, fanned)


async def wait_for_deliveries(window: Window, grace: float) -> None:
    deadline = time.perf_counter() + grace
    while window.sent and time.perf_counter() < deadline:
        await asyncio.sleep(0.1)


def listen_row(db: BenchDatabase, mode: str, listeners: int, window: Window, usage: Usage, idle: float, delta: tuple[int, int] | None,
               costs: list[OpCost], fanned: FanOut | None) -> ListenRow:
    seconds = usage.seconds
    replies = window.requests.get("reply", 0)
    delivered = len(window.latencies)
    # every poll reads; a stream reads once per wake-up (a reply in its conversation) and once per keep-alive tick
    reads = window.requests.get("poll", 0) if mode == "poll" else delivered + window.keepalives
    counted = (reads * cost_of(costs, db.kind, "GET messages") + replies * cost_of(costs, db.kind, "POST agent reply")
               + window.requests.get("presence", 0) * cost_of(costs, db.kind, "POST agent presence"))
    return ListenRow(
        db.kind, mode, listeners, round(seconds, 1), round(sum(window.requests.values()) / seconds, 1),
        round(reads / seconds, 1),
        round(delta[0] / seconds, 1) if delta else round(counted / seconds, 1),
        f"pg_stat (counted: {round(counted / seconds)} + pre-pings)" if delta else "counted",
        delta[1] if delta else "-",
        usage.pct(usage.app), usage.pct(usage.postgres) if db.pg else "-", usage.pct(usage.bench), usage.pct(usage.others),
        percentile(window.durations, 0.5), window.errors, replies, delivered, percentile(window.latencies, 0.5), percentile(window.latencies, 0.95),
        round(1000 * (usage.app - idle * seconds) / reads, 2) if reads else 0.0, round(100 * idle),
        round(1000 * usage.postgres / delta[0], 3) if delta and delta[0] else "-",
        fanned.seconds if fanned else "-", fanned.cpu_ms_per_stream if fanned else "-",
    )


def listen_scenario(db: BenchDatabase, plan: Plan, root: Path, costs: list[OpCost]) -> list[ListenRow]:
    env = {"RAG_EMBEDDINGS": "hash", "RAG_RATE_LIMIT": "0", **db.env}  # no answers here: the fast embedder will do
    with app_servers(1, root / f"listen-{db.kind}" / "data", env) as apps:
        async def run() -> list[ListenRow]:
            async with client(apps[0].url) as agent:
                await sign_in(agent)
                cids = await handed_off(agent, plan.listeners)
            meter = Meter(apps, None, db.pg)
            idle = idle_app_cpu(meter, 3.0)
            # then polling with a fifth of the clients and no replies: what a poll costs when the server keeps up
            phases = [("push", cids, plan.replies_per_s), ("poll", cids, plan.replies_per_s),
                      ("poll", cids[: max(1, len(cids) // 5)], 0.0)]
            return [await listen_phase(db, apps[0].url, some, mode, rate, plan, meter, idle, costs) for mode, some, rate in phases]

        return asyncio.run(run())
