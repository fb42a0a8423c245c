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

The code: bench/desk/ (one module per concern, see its __init__.py); the servers come from devtools/servers.py.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.desk.calibrate import calibrate
from bench.desk.capacity import Assumptions, capacity, measured_costs
from bench.desk.chat import ChatRow, chat_scenario
from bench.desk.listen import ListenRow, listen_scenario
from bench.desk.measure import new_database
from bench.desk.plan import QUICK, ROOT, SEEDS, Plan
from bench.desk.report import conditions, table
from bench.desk.servers import ingest_into
from devtools.servers import Postgres, PostgresMissing, chroma_server
from eval.cases import load_cases


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
