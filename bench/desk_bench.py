"""python bench/desk_bench.py [--quick] [--embedder e5-small] [--clients 32] [--listeners 500] [--window 20]

Several servers: what the desk (rag/desk/) costs per answer, per listener and per pushed event, on SQLite and on
PostgreSQL, with one and with two app processes; then a capacity model for Klarna's 2.3 M conversations a month.

1. Chat: `--clients` concurrent clients (asyncio + httpx, each its own conversation, the answerable questions of
   eval/cases/tuning.jsonl in turn) POST /api/chat for `--chat-seconds`, against 1 and 2 app servers (`python app.py`,
   two ports, one shared `chroma run` server and one shared database; clients split round-robin, as behind a proxy).
   With 2 servers it also checks that an agent's reply posted on server A reaches a listener on server B.
2. Listeners: `--listeners` conversations handed to an agent, each with a listener: (a) push, one SSE stream each on
   GET /api/conversations/{cid}/events, (b) polling, GET /api/conversations/{cid}/messages?after=N every 1.5 s (the
   widget's loop; over plain keep-alive sockets, as httpx's client CPU would be the bottleneck). During `--window`
   seconds the agent replies in `--replies` conversations per second; measured: HTTP requests/s, database
   transactions/s, server CPU and the reply's delivery latency to its listener. Then one queue change (the agent goes
   offline) wakes every stream: how long until all have re-read, and the CPU per stream.
3. A capacity model computed from those figures (`capacity`).

Everything runs on 127.0.0.1 in a temp folder (removed at the end); every server started here (app.py, chroma,
PostgreSQL) is stopped in a finally block. Database transactions: PostgreSQL's pg_stat_database counters
(xact_commit + xact_rollback) of the bench database; for SQLite, which has no such counter outside the process,
requests x transactions per request, counted once in-process with SQLAlchemy events (`calibrate`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from eval.cases import load_cases
from eval.metrics import percentile
from tests.live import LiveApp, chroma_server
from tests.postgres import Postgres, PostgresMissing

SEEDS = ROOT / "seeds"
CLK_TCK = os.sysconf("SC_CLK_TCK")
AGENT = {"name": "agent", "password": "relais"}  # the default agent on a loopback bind
POLL_SECONDS = 1.5  # the widget's poll interval (rag/desk/static/widget.js)
KEEPALIVE = 15.0  # seconds between an SSE stream's keep-alive re-reads (rag/desk/api.py)
PG_FLUSH_S = 11.0  # PostgreSQL 15 backends publish their counters at most once a second, and within 10 s once idle
LIMITS = httpx.Limits(max_connections=None, max_keepalive_connections=None)
TIMEOUT = httpx.Timeout(60.0, read=120.0)


@dataclass(frozen=True)
class Plan:
    embedder: str = "e5-small"
    clients: int = 32
    chat_seconds: float = 15.0
    listeners: int = 500
    window: float = 20.0
    ramp: float = KEEPALIVE  # SSE streams open evenly over one keep-alive period: their re-reads spread out, as in real life
    replies_per_s: float = 5.0
    cross_samples: int = 5


QUICK = Plan(embedder="hash", clients=8, chat_seconds=4.0, listeners=40, window=6.0, ramp=2.0, replies_per_s=5.0, cross_samples=2)


# --- measuring: CPU from /proc, transactions from pg_stat_database ---------------------------------------------------
def _stat(pid: int) -> list[str]:
    """/proc/<pid>/stat fields from the state on (index 0 = field 3), past the command name in parentheses."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int, reaped_children: bool = False) -> float:
    fields = _stat(pid)
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if reaped_children:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime: children that have exited
    return ticks / CLK_TCK


def postgres_cpu_seconds(pg: Postgres) -> float:
    """The postmaster, its live children (backends, walwriter, …) and the backends that have exited."""
    master = int((pg.data_dir / "postmaster.pid").read_text().split()[0])
    total = cpu_seconds(master, reaped_children=True)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == master:
            total += (int(fields[11]) + int(fields[12])) / CLK_TCK
    return total


def machine_busy_seconds() -> float:
    """CPU time spent by everything on the machine (all cores), from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(values) - values[3] - values[4]) / CLK_TCK  # minus idle and iowait


def bench_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class Snapshot:
    at: float
    app: float
    chroma: float
    postgres: float
    bench: float
    machine: float


@dataclass(frozen=True)
class Usage:
    """CPU seconds spent by each party between two snapshots."""

    seconds: float
    app: float
    chroma: float
    postgres: float
    bench: float
    machine: float

    def pct(self, cpu: float) -> int:
        """CPU as a percentage of one core."""
        return round(100 * cpu / self.seconds) if self.seconds else 0

    @property
    def others(self) -> float:
        """What the rest of the machine used meanwhile (other tests, other users)."""
        return max(0.0, self.machine - self.app - self.chroma - self.postgres - self.bench)


class Meter:
    def __init__(self, apps: list[LiveApp], chroma_pid: int | None = None, pg: Postgres | None = None) -> None:
        self.pids = [a.process.pid for a in apps]
        self.chroma_pid, self.pg = chroma_pid, pg

    def snapshot(self) -> Snapshot:
        return Snapshot(time.perf_counter(), sum(cpu_seconds(p) for p in self.pids),
                        cpu_seconds(self.chroma_pid) if self.chroma_pid else 0.0,
                        postgres_cpu_seconds(self.pg) if self.pg else 0.0, bench_cpu_seconds(), machine_busy_seconds())

    @staticmethod
    def usage(a: Snapshot, b: Snapshot) -> Usage:
        return Usage(b.at - a.at, b.app - a.app, b.chroma - a.chroma, b.postgres - a.postgres, b.bench - a.bench, b.machine - a.machine)


def idle_app_cpu(meter: Meter, seconds: float) -> float:
    """The app servers' CPU seconds per second with no request at all (subtracted from the per-request figures)."""
    start = meter.snapshot()
    time.sleep(seconds)
    usage = Meter.usage(start, meter.snapshot())
    return usage.app / usage.seconds


@dataclass(frozen=True)
class BenchDatabase:
    """One bench database: SQLite (a relais.db in the servers' shared data folder) or one PostgreSQL database."""

    kind: str  # sqlite | postgresql
    env: dict[str, str]  # what the app servers get (RAG_DATABASE_URL)
    pg: Postgres | None = None
    name: str = ""

    def counters(self) -> tuple[int, int] | None:
        """PostgreSQL: (transactions, sessions) of this database so far, read from another database; SQLite: None."""
        if self.pg is None:
            return None
        import psycopg

        with psycopg.connect(self.pg.url, autocommit=True) as conn:
            row = conn.execute("SELECT xact_commit + xact_rollback, sessions FROM pg_stat_database WHERE datname = %s",
                               (self.name,)).fetchone()
        return int(row[0]), int(row[1])


def new_database(kind: str, pg: Postgres | None) -> BenchDatabase:
    if kind == "sqlite":
        return BenchDatabase("sqlite", {})  # the app's default: <RAG_DATA_DIR>/relais.db, shared by servers on one data folder
    name = f"bench_{uuid.uuid4().hex[:12]}"
    return BenchDatabase("postgresql", {"RAG_DATABASE_URL": pg.new_database(name)}, pg, name)


def pg_delta(before: tuple[int, int] | None, after: tuple[int, int] | None) -> tuple[int, int] | None:
    return (after[0] - before[0], after[1] - before[1]) if before and after else None


# --- servers ---------------------------------------------------------------------------------------------------------
@contextmanager
def app_servers(count: int, data_dir: Path, env: dict[str, str]) -> Iterator[list[LiveApp]]:
    """`count` app servers on one data folder (one after the other: the first builds the BM25 cache the next ones load)."""
    apps: list[LiveApp] = []
    try:
        for _ in range(count):
            app = LiveApp(data_dir, SEEDS, **env)
            while any(a.port == app.port for a in apps):
                app = LiveApp(data_dir, SEEDS, **env)
            apps.append(app)
            app.start(timeout=300)
        yield apps
    finally:
        for app in apps:
            app.stop()


def ingest_into(env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "ingest.py", "--quiet"], cwd=ROOT, env={**os.environ, **env}, check=True,
                   capture_output=True, timeout=900)


def client(url: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=url, timeout=TIMEOUT, limits=LIMITS)


async def sign_in(http: httpx.AsyncClient) -> None:
    """The default agent's session cookie, kept by `http`; signing in also sets the agent online."""
    (await http.post("/api/agent/login", json=AGENT)).raise_for_status()


async def handed_off(http: httpx.AsyncClient, n: int, concurrency: int = 16) -> list[str]:
    """`n` new conversations, each handed off and claimed by the signed-in agent of `http` (so the agent may reply)."""
    gate = asyncio.Semaphore(concurrency)

    async def one() -> str:
        async with gate:
            cid = (await http.post("/api/conversations", json={})).json()["conversation_id"]
            (await http.post(f"/api/conversations/{cid}/handoff", json={})).raise_for_status()
            (await http.post(f"/api/agent/conversations/{cid}/claim")).raise_for_status()
            return cid

    return list(await asyncio.gather(*(one() for _ in range(n))))


async def sse(http: httpx.AsyncClient, cid: str, on_event: Callable[[str, str], None]) -> None:
    """Follow one conversation's event stream until cancelled: on_event(event, data); comments come as ("comment", line)."""
    async with http.stream("GET", f"/api/conversations/{cid}/events") as response:
        response.raise_for_status()
        event, data = None, []
        async for line in response.aiter_lines():
            if line.startswith(":"):
                on_event("comment", line)
            elif line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
            elif not line:
                if event:
                    on_event(event, "\n".join(data))
                event, data = None, []


async def cancel_all(tasks: list[asyncio.Task]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


# --- 0. transactions per request, counted in-process ---------------------------------------------------------------
@dataclass(frozen=True)
class OpCost:
    database: str
    operation: str
    transactions: float  # SQLAlchemy transactions (Database.tx / Database.read) per request
    statements: float  # SQL statements per request (BEGIN not counted)
    pg_transactions: float | None  # what pg_stat_database counts per request (pool pre-pings included)


class StubPipeline:
    """Answers at once: the desk's statements do not depend on the answerer."""

    def stream(self, text: str, history: list[dict]):
        from rag.schema import Answer

        yield "stub"
        yield Answer(text="Une réponse.", confidence=0.9)


class Counting:
    def __init__(self, engine) -> None:
        from sqlalchemy import event

        self.transactions = self.statements = 0
        event.listen(engine, "begin", self._begin)
        event.listen(engine, "before_cursor_execute", self._statement)

    def _begin(self, _conn) -> None:
        self.transactions += 1

    def _statement(self, _conn, _cursor, statement, *_args) -> None:
        if not statement.lstrip().upper().startswith("BEGIN"):
            self.statements += 1

    def reset(self) -> None:
        self.transactions = self.statements = 0


def calibrate(db: BenchDatabase, url: str, repeats: int = 20) -> list[OpCost]:
    """Transactions and statements per request of each operation the bench sends, through the real API in-process."""
    from fastapi.testclient import TestClient

    from rag.desk import Database as DeskDatabase
    from rag.desk import Desk
    from rag.desk.api import build_api
    from rag.desk.auth import Agents
    from rag.desk.guards import SharedRateLimiter
    from rag.desk.shared import Shared
    from rag.settings import Settings

    with tempfile.TemporaryDirectory(prefix="relais-deskbench-cal-") as tmp:
        store = DeskDatabase(url)
        try:
            counting = Counting(store.engine)
            desk = Desk(StubPipeline(), store, Path(tmp) / "knowledge")
            agents = Agents(Settings.from_env({}, data_dir=Path(tmp)), store)
            api = TestClient(build_api(desk, agents, rate_limit=0, allowed_hosts="*"))
            api.post("/api/agent/login", json=AGENT).raise_for_status()
            listened = api.post("/api/conversations", json={}).json()["conversation_id"]
            api.post(f"/api/conversations/{listened}/handoff", json={}).raise_for_status()
            api.post(f"/api/agent/conversations/{listened}/claim").raise_for_status()
            chatting = api.post("/api/conversations", json={}).json()["conversation_id"]
            question = {"question": "Combien de conversations le chatbot gérait-il par mois ?", "conversation_id": chatting}
            ops: list[tuple[str, Callable[[], httpx.Response]]] = [
                ("POST /api/chat (one answer)", lambda: api.post("/api/chat", json=question)),
                ("GET messages (a poll = one SSE re-read)", lambda: api.get(f"/api/conversations/{listened}/messages?after=0")),
                ("POST agent reply", lambda: api.post(f"/api/agent/conversations/{listened}/reply", json={"text": "bench"})),
                ("POST agent presence", lambda: api.post("/api/agent/presence", json={"online": True})),
                ("POST /api/conversations", lambda: api.post("/api/conversations", json={})),
            ]
            if db.kind == "postgresql":  # what the app adds on PostgreSQL when RAG_RATE_LIMIT is on (default 30)
                limited = TestClient(build_api(desk, agents, rate_limit=SharedRateLimiter(Shared(store), 10**9, "chat"),
                                               allowed_hosts="*"))
                ops.append(("POST /api/chat, rate limit counted in PostgreSQL", lambda: limited.post("/api/chat", json=question)))
            return [_measure_op(db, store, counting, name, send, repeats) for name, send in ops]
        finally:
            store.close()


def _measure_op(db: BenchDatabase, store, counting: Counting, name: str, send: Callable[[], httpx.Response], repeats: int) -> OpCost:
    store.engine.dispose()  # PostgreSQL backends publish their counters when they exit
    time.sleep(1.0 if db.pg else 0)
    before = db.counters()
    counting.reset()
    for _ in range(repeats):
        response = send()
        assert response.status_code == 200, f"{name}: {response.status_code} {response.text}"
    transactions, statements = counting.transactions / repeats, counting.statements / repeats
    store.engine.dispose()
    time.sleep(1.0 if db.pg else 0)
    delta = pg_delta(before, db.counters())
    return OpCost(db.kind, name, round(transactions, 1), round(statements, 1), round(delta[0] / repeats, 1) if delta else None)


def cost_of(costs: list[OpCost], kind: str, prefix: str, pg: bool = False) -> float:
    cost = next(c for c in costs if c.database == kind and c.operation.startswith(prefix))
    return cost.pg_transactions if pg else cost.transactions


# --- 1. answers per second ---------------------------------------------------------------------------------------------
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


# --- 2. listeners: push (SSE) against polling ----------------------------------------------------------------------
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


class KeepAliveGet:
    """GET over one HTTP/1.1 keep-alive connection, and nothing else: httpx spends ~8 ms of client CPU per request, so
    500 pollers through it saturate the load generator (on the same 2 cores) at ~115 requests/s, before the server."""

    def __init__(self, url: str) -> None:
        self.host, port = url.removeprefix("http://").split(":")
        self.port = int(port)
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> tuple[int, bytes]:
        for attempt in (1, 2):  # the server may close an idle connection (uvicorn: after 5 s) as a request goes out
            try:
                return await self._get(path)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _get(self, path: str) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n\r\n".encode())
        head = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
        lines = head.split("\r\n")
        headers = dict(line.split(":", 1) for line in lines[1:] if ":" in line)
        body = await self.reader.readexactly(int(headers["content-length"]))  # JSON answers: never chunked
        if headers.get("connection", "").strip() == "close":
            self.close()
        return int(lines[0].split()[1]), body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


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


# --- 3. capacity model -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Assumptions:
    conversations_per_month: float = 2.3e6  # Klarna's assistant, 2024
    busiest_hour_factor: float = 2.5  # the busiest hour against the average hour (2x-3x)
    questions_per_conversation: float = 3.0  # bot answers per conversation
    handoff_share: float = 0.25  # conversations handed to a person
    human_messages: float = 10.0  # messages (agent replies and the user's) while with a person
    queue_changes: float = 3.0  # per handed-off conversation: request, claim, close (each wakes every stream)
    wakes_per_answer: float = 2.0  # the user's message and the bot's answer each wake the conversation's stream
    bot_minutes: float = 3.0  # a listener is open while the widget is (bot-only conversations)
    human_minutes: float = 12.0  # ... and for conversations handed to a person (queue wait included)
    write_cost_in_reads: float = 2.0  # CPU of a message to/from a person, in poll requests (same API path, a write)
    utilisation: float = 0.6  # target CPU use of a server at the busiest hour


@dataclass(frozen=True)
class Costs:
    """Measured per-request costs (this run's PostgreSQL rows: the backend for several servers)."""

    answer_cpu_ms: float  # app CPU per /api/chat answer (1 server)
    chroma_cpu_ms: float  # Chroma server CPU per answer
    answer_pg_tx: float  # PostgreSQL transactions per answer (pg_stat_database)
    poll_cpu_ms: float  # app CPU per poll request (GET messages), with a fifth of the pollers (the server keeping up)
    stream_read_cpu_ms: float  # app CPU per SSE re-read (the fan-out: one queue change woke every stream)
    read_pg_tx: float  # PostgreSQL transactions per poll or SSE re-read (the same desk calls)
    reply_pg_tx: float  # ... per agent reply (a user's message to a person is alike)
    pg_cpu_ms_per_tx: float  # PostgreSQL CPU per transaction (the same polling window)
    answers_per_s_per_server: float  # best measured answers/s of one 2-core machine (load generator on it too)


def peak_load(a: Assumptions) -> dict[str, float]:
    """The busiest hour, per second: conversations, answers, messages with a person, queue changes, open listeners."""
    conversations = a.conversations_per_month / (30 * 24 * 3600) * a.busiest_hour_factor
    handed = conversations * a.handoff_share
    return {
        "conversations": conversations,
        "answers": conversations * a.questions_per_conversation,
        "person_messages": handed * a.human_messages,
        "queue_changes": handed * a.queue_changes,
        # Little's law: arrivals x how long each listener stays open
        "listeners": conversations * 60 * ((1 - a.handoff_share) * a.bot_minutes + a.handoff_share * a.human_minutes),
    }


def capacity(a: Assumptions, c: Costs) -> list[dict]:
    """The busiest hour's load and what it needs, with push (SSE, as the desk does now) and with 1.5 s polling."""
    load = peak_load(a)
    answers, person, queue, listeners = load["answers"], load["person_messages"], load["queue_changes"], load["listeners"]
    reads = {  # conversation re-reads per second
        "push": {"keep-alive ticks": listeners / KEEPALIVE, "own messages": answers * a.wakes_per_answer + person,
                 "queue changes (wake every stream)": queue * listeners},
        "poll": {"polls": listeners / POLL_SECONDS},
    }
    read_cpu = {"push": c.stream_read_cpu_ms, "poll": c.poll_cpu_ms}
    rows: list[tuple[str, float, float]] = [(k.replace("_", " ") + "/s" if k != "listeners" else "open listeners", v, v)
                                            for k, v in load.items()]
    for m in ("push", "poll"):
        for what, n in reads[m].items():
            rows.append((f"re-reads/s: {what}", n if m == "push" else 0.0, n if m == "poll" else 0.0))
    total = {m: sum(reads[m].values()) for m in reads}
    answer_cores = answers * c.answer_cpu_ms / 1000
    listen_cores = {m: (total[m] * read_cpu[m] + person * a.write_cost_in_reads * c.poll_cpu_ms) / 1000 for m in reads}
    cores = {m: (answer_cores + listen_cores[m]) / a.utilisation for m in reads}
    pg_tx = {m: answers * c.answer_pg_tx + total[m] * c.read_pg_tx + person * c.reply_pg_tx for m in reads}
    chroma = answers * c.chroma_cpu_ms / 1000 / a.utilisation
    rows += [
        ("re-reads/s (total)", total["push"], total["poll"]),
        ("app CPU for answers (cores busy)", answer_cores, answer_cores),
        ("app CPU for listeners and messages (cores busy)", listen_cores["push"], listen_cores["poll"]),
        (f"app cores needed at {a.utilisation:.0%} use", cores["push"], cores["poll"]),
        ("2-core app servers (from CPU ms)", math.ceil(cores["push"] / 2), math.ceil(cores["poll"] / 2)),
        ("2-core app servers for the answers alone (measured answers/s)", math.ceil(answers / (c.answers_per_s_per_server * a.utilisation)),
         math.ceil(answers / (c.answers_per_s_per_server * a.utilisation))),
        (f"Chroma server cores at {a.utilisation:.0%} use", chroma, chroma),
        ("PostgreSQL transactions/s (half are pool pre-pings)", pg_tx["push"], pg_tx["poll"]),
        ("PostgreSQL cores busy", pg_tx["push"] * c.pg_cpu_ms_per_tx / 1000, pg_tx["poll"] * c.pg_cpu_ms_per_tx / 1000),
    ]
    return [{"busiest hour": q, "push (SSE)": _round(p), "polling 1.5 s": _round(v)} for q, p, v in rows]


def _round(x: float) -> float | int:
    return x if isinstance(x, int) else round(x, 2) if abs(x) < 10 else round(x)


def measured_costs(chat: list[ChatRow], listen: list[ListenRow], calib: list[OpCost]) -> Costs | None:
    """The model's inputs from this run's PostgreSQL rows (the only backend for several servers)."""
    pg_chat = [r for r in chat if r.database == "postgresql" and r.answers]
    pg_listen = {r.mode: r for r in sorted(listen, key=lambda r: -r.listeners) if r.database == "postgresql"}  # the fewest
    if not pg_chat or set(pg_listen) != {"push", "poll"}:
        return None
    one = next((r for r in pg_chat if r.servers == 1), pg_chat[0])
    return Costs(
        answer_cpu_ms=one.app_cpu_ms_per_answer, chroma_cpu_ms=one.chroma_cpu_ms_per_answer,
        answer_pg_tx=float(one.db_tx_per_answer), poll_cpu_ms=pg_listen["poll"].app_cpu_ms_per_read,
        stream_read_cpu_ms=float(pg_listen["push"].fan_out_cpu_ms_per_stream),
        read_pg_tx=cost_of(calib, "postgresql", "GET messages", pg=True),
        reply_pg_tx=cost_of(calib, "postgresql", "POST agent reply", pg=True),
        pg_cpu_ms_per_tx=float(pg_listen["poll"].postgres_cpu_ms_per_tx),
        answers_per_s_per_server=max(r.answers_per_s for r in chat if r.answers),
    )


# --- output -------------------------------------------------------------------------------------------------------------
def table(title: str, rows: list[dict]) -> None:
    if not rows:
        return
    print(f"\n{title}\n")
    columns = list(rows[0])
    print("| " + " | ".join(columns) + " |")
    print("|---" * len(columns) + "|")
    for r in rows:
        print("| " + " | ".join("-" if r[c] is None else str(r[c]) for c in columns) + " |")
    sys.stdout.flush()


def conditions(plan: Plan, started: float) -> None:
    load = os.getloadavg()
    print(f"\nmachine: {os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at start; "
          f"embedder for /api/chat: {plan.embedder}; listeners' server: hash embedder (no answers there); "
          f"{time.perf_counter() - started:.0f} s so far", flush=True)


# --- main ---------------------------------------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description="Several servers: the desk's costs per answer, per listener and per event.")
    parser.add_argument("--quick", action="store_true", help="a short smoke run (hash embedder, few clients, short windows)")
    parser.add_argument("--embedder", help="RAG_EMBEDDINGS for the chat servers (default e5-small; --quick: hash)")
    parser.add_argument("--clients", type=int)
    parser.add_argument("--chat-seconds", type=float)
    parser.add_argument("--listeners", type=int)
    parser.add_argument("--window", type=float)
    parser.add_argument("--replies", type=float, help="agent replies per second during the window")
    parser.add_argument("--databases", nargs="*", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"])
    parser.add_argument("--skip", nargs="*", default=[], choices=["chat", "listen"])
    args = parser.parse_args()
    plan = QUICK if args.quick else Plan()
    overrides = {"embedder": args.embedder, "clients": args.clients, "chat_seconds": args.chat_seconds,
                 "listeners": args.listeners, "window": args.window, "replies_per_s": args.replies}
    plan = Plan(**{**asdict(plan), **{k: v for k, v in overrides.items() if v is not None}})
    started = time.perf_counter()
    print(f"plan: {plan}")
    conditions(plan, started)
    root = Path(tempfile.mkdtemp(prefix="relais-deskbench-"))
    pg: Postgres | None = None
    try:
        if "postgresql" in args.databases:
            try:
                pg = Postgres().start()
            except PostgresMissing as exc:
                print(f"PostgreSQL skipped: {exc}")
                args.databases.remove("postgresql")
        run_all(plan, args, root, pg, started)
    finally:
        if pg is not None:
            pg.stop()
        shutil.rmtree(root, ignore_errors=True)
    print(f"\ndone in {time.perf_counter() - started:.0f} s")
    return 0


def run_all(plan: Plan, args, root: Path, pg: Postgres | None, started: float) -> None:
    questions = [c.question for c in load_cases(ROOT / "eval/cases/tuning.jsonl") if c.expect == "answer"]
    calib = []
    for kind in args.databases:
        db = new_database(kind, pg)
        calib += calibrate(db, db.env.get("RAG_DATABASE_URL") or str(root / f"calibrate-{kind}.db"))
    table("Transactions per request (in-process count, stub answerer; pg: what pg_stat_database counts)",
          [asdict(c) for c in calib])
    chat: list[ChatRow] = []
    if "chat" not in args.skip:
        with chroma_server(root / "chroma") as chroma:
            ingest_into({"RAG_EMBEDDINGS": plan.embedder, "RAG_DATA_DIR": str(root / "ingest"), "RAG_DOCS": str(SEEDS),
                         "RAG_CHROMA_HOST": "127.0.0.1", "RAG_CHROMA_PORT": str(chroma[0])})
            for kind in args.databases:
                for servers in (1, 2):
                    conditions(plan, started)
                    chat.append(chat_scenario(new_database(kind, pg), servers, plan, root, chroma, questions, calib))
                    table(f"/api/chat, {kind}, {servers} server(s)", [asdict(chat[-1])])
        table(f"1. POST /api/chat, {plan.clients} clients, {plan.chat_seconds:.0f} s, embedder {plan.embedder}",
              [asdict(r) for r in chat])
    listen: list[ListenRow] = []
    if "listen" not in args.skip:
        for kind in args.databases:
            conditions(plan, started)
            listen += listen_scenario(new_database(kind, pg), plan, root, calib)
            table(f"listeners, {kind}", [asdict(r) for r in listen if r.database == kind])
        table(f"2. {plan.listeners} listeners, {plan.window:.0f} s window, {plan.replies_per_s:g} agent replies/s",
              [asdict(r) for r in listen])
    costs = measured_costs(chat, listen, calib)
    if costs is None:
        print("\n3. capacity model: needs the PostgreSQL chat and polling rows")
        return
    a = Assumptions()
    table("3. Capacity model: assumptions", [{"assumption": k, "value": v} for k, v in asdict(a).items()])
    table("3. Capacity model: measured costs (PostgreSQL rows)", [{"cost": k, "value": v} for k, v in asdict(costs).items()])
    table("3. Capacity model: Klarna's 2.3 M conversations a month, busiest hour", capacity(a, costs))


if __name__ == "__main__":
    sys.exit(main())
