"""1. Answers per second: concurrent clients POST /api/chat against 1 and 2 app servers; with 2, a reply crosses servers."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from eval.metrics import percentile

from .calibrate import OpCost, cost_of
from .clients import cancel_all, client, handed_off, sign_in, sse
from .measure import BenchDatabase, Meter, idle_app_cpu, pg_delta
from .plan import KEEPALIVE, PG_FLUSH_S, Plan
from .servers import app_servers


@dataclass
class ChatRow:
    database: str
    servers: int
    clients: int
    answers: int
    seconds: float
    answers_per_s: float
    p50_ms: float
    p95_ms: float
    errors: int
    app_cpu_ms_per_answer: float  # less the servers' idle CPU
    chroma_cpu_ms_per_answer: float
    postgres_cpu_ms_per_answer: float | str
    db_tx_per_answer: float | str  # PostgreSQL: measured (pg_stat); SQLite: counted in-process
    app_cpu_pct: int  # of one core, all app processes together
    others_cpu_pct: int  # the rest of the machine meanwhile (other jobs)
    cross_server: str = "-"  # 2 servers: a reply posted on A, seen by a listener on B (seconds)


async def new_conversations(urls: list[str], n: int) -> list[str]:
    """`n` conversations, the i-th on server i mod len(urls)."""
    https = [client(u) for u in urls]
    try:
        made = await asyncio.gather(*(https[i % len(https)].post("/api/conversations", json={}) for i in range(n)))
        return [r.json()["conversation_id"] for r in made]
    finally:
        await asyncio.gather(*(h.aclose() for h in https))


async def chat_clients(urls: list[str], cids: list[str], seconds: float, questions: list[str]) -> tuple[list[float], int, float]:
    """Client i asks in conversation cids[i] on server i mod len(urls), one question after the other, for `seconds`."""
    https = [client(u) for u in urls]
    clients = len(cids)
    latencies: list[float] = []
    errors = 0
    started = time.perf_counter()
    deadline = started + seconds

    async def user(i: int) -> None:
        nonlocal errors
        http, k = https[i % len(https)], i
        while time.perf_counter() < deadline:
            t = time.perf_counter()
            try:
                ok = (await http.post("/api/chat", json={"question": questions[k % len(questions)],
                                                         "conversation_id": cids[i]})).status_code == 200
            except httpx.HTTPError:
                ok = False
            if ok:
                latencies.append((time.perf_counter() - t) * 1000)
            else:
                errors += 1
            k += clients

    try:
        await asyncio.gather(*(user(i) for i in range(clients)))
        return latencies, errors, time.perf_counter() - started
    finally:
        await asyncio.gather(*(h.aclose() for h in https))


async def cross_server(a: str, b: str, samples: int, timeout: float = KEEPALIVE + 5) -> list[float | None]:
    """Seconds until an agent's reply posted on server `a` reaches a listener on server `b` (None: not within `timeout`)."""
    async with client(a) as agent, client(b) as listener:
        await sign_in(agent)
        cids = await handed_off(agent, samples, concurrency=samples)
        arrived: dict[str, float] = {}
        ready = {cid: asyncio.Event() for cid in cids}

        def on_event(cid: str) -> Callable[[str, str], None]:
            def handle(event: str, data: str) -> None:
                if event == "status":
                    ready[cid].set()
                elif event == "message" and json.loads(data)["text"] == "cross" and cid not in arrived:
                    arrived[cid] = time.perf_counter()
            return handle

        tasks = [asyncio.create_task(sse(listener, cid, on_event(cid))) for cid in cids]
        try:
            await asyncio.wait_for(asyncio.gather(*(e.wait() for e in ready.values())), 30)
            sent = {}
            for cid in cids:
                sent[cid] = time.perf_counter()
                (await agent.post(f"/api/agent/conversations/{cid}/reply", json={"text": "cross"})).raise_for_status()
            deadline = time.perf_counter() + timeout
            while len(arrived) < len(cids) and time.perf_counter() < deadline:
                await asyncio.sleep(0.05)
            return [round(arrived[c] - sent[c], 2) if c in arrived else None for c in cids]
        finally:
            await cancel_all(tasks)


def chat_scenario(db: BenchDatabase, servers: int, plan: Plan, root: Path, chroma: tuple[int, int], questions: list[str],
                  costs: list[OpCost]) -> ChatRow:
    env = {"RAG_EMBEDDINGS": plan.embedder, "RAG_RATE_LIMIT": "0", "RAG_CHROMA_HOST": "127.0.0.1",
           "RAG_CHROMA_PORT": str(chroma[0]), **db.env}
    with app_servers(servers, root / f"chat-{db.kind}-{servers}" / "data", env) as apps:
        urls = [a.url for a in apps]
        warm = asyncio.run(new_conversations(urls, 2 * servers))
        asyncio.run(chat_clients(urls, warm, 2.0, questions))  # warm-up: the first answers load lazy parts
        cids = asyncio.run(new_conversations(urls, plan.clients))
        meter = Meter(apps, chroma[1], db.pg)
        idle = idle_app_cpu(meter, PG_FLUSH_S if db.pg else 3.0)  # on PostgreSQL, also the counters' flush
        counters, start = db.counters(), meter.snapshot()
        latencies, errors, seconds = asyncio.run(chat_clients(urls, cids, plan.chat_seconds, questions))
        usage = Meter.usage(start, meter.snapshot())
        time.sleep(PG_FLUSH_S if db.pg else 0)
        delta = pg_delta(counters, db.counters())
        cross = asyncio.run(cross_server(urls[0], urls[1], plan.cross_samples)) if servers > 1 else None
    n = max(1, len(latencies))
    return ChatRow(
        db.kind, servers, plan.clients, len(latencies), round(seconds, 1), round(len(latencies) / seconds, 1),
        percentile(latencies, 0.5), percentile(latencies, 0.95), errors,
        round(1000 * (usage.app - idle * usage.seconds) / n, 1), round(1000 * usage.chroma / n, 1),
        round(1000 * usage.postgres / n, 1) if db.pg else "-",
        round(delta[0] / n, 1) if delta else f"{cost_of(costs, db.kind, 'POST /api/chat (')} (counted)",
        usage.pct(usage.app), usage.pct(usage.others),
        "-" if cross is None else " ".join("never" if s is None else f"{s}" for s in cross),
    )
