"""0. Transactions and statements per request, counted in-process (SQLAlchemy events) through the real API."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from .clients import AGENT
from .measure import BenchDatabase, pg_delta


@dataclass(frozen=True)
class OpCost:
    database: str
    operation: str
    transactions: float  # SQLAlchemy transactions (Database.tx / Database.read) per request
    statements: float  # SQL statements per request (BEGIN not counted)
    pg_transactions: float | None  # what pg_stat_database counts per request (pool pre-pings included)


class StubPipeline:
    """Answers at once: the desk's statements do not depend on the answerer."""

    def suspicious(self, limit: int = 50) -> list[dict]:
        return []  # no corpus behind it, nothing flagged

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
