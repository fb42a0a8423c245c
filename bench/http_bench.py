"""python bench/http_bench.py [--clients 8 32] [--requests 96]

Concurrent users over the HTTP API: starts `python app.py` (default embedder, seeds, rate limit off) on a
free loopback port, then for each client count sends a bounded number of POST /api/chat requests (eval
questions, each client its own conversation) from that many threads. Prints and writes throughput,
latency p50/p95 and errors to bench/http_results.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.table import write_table
from devtools.servers import LiveApp
from eval.cases import load_cases
from eval.metrics import percentile

HERE = Path(__file__).resolve().parent


def run(url: str, clients: int, total: int, questions: list[str]) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    per_client = max(1, total // clients)

    def user(n: int) -> None:
        with httpx.Client(base_url=url, timeout=120) as http:
            cid = None
            for i in range(per_client):
                question = questions[(n * per_client + i) % len(questions)]
                t = time.perf_counter()
                try:
                    r = http.post("/api/chat", json={"question": question, "conversation_id": cid})
                    ok = r.status_code == 200
                    cid = r.json().get("conversation_id", cid) if ok else cid
                except httpx.HTTPError as exc:
                    ok, r = False, exc
                with lock:
                    latencies.append((time.perf_counter() - t) * 1000)
                    if not ok:
                        errors.append(str(getattr(r, "status_code", r)))

    threads = [threading.Thread(target=user, args=(n,)) for n in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    return {"clients": clients, "requests": len(latencies), "seconds": round(elapsed, 1),
            "throughput": round(len(latencies) / elapsed, 1), "p50": percentile(latencies, 0.5),
            "p95": percentile(latencies, 0.95), "mean": round(statistics.fmean(latencies), 1), "errors": len(errors)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, nargs="*", default=[8, 32])
    parser.add_argument("--requests", type=int, default=192, help="per client count, shared by its clients")
    args = parser.parse_args()
    questions = [c.question for c in load_cases(HERE.parent / "eval/cases/tuning.jsonl") if c.expect == "answer"]
    app = LiveApp(HERE / "corpus" / "http" / "data", HERE.parent / "seeds", RAG_EMBEDDINGS="e5-small", RAG_RATE_LIMIT="0")
    app.start(timeout=600)
    try:
        run(app.url, 2, 8, questions)  # warm up
        rows = [run(app.url, c, args.requests, questions) for c in args.clients]
    finally:
        app.stop()
    write_table(HERE / "http_results.md", {
        "clients": "clients", "requests": "requests", "seconds": "seconds", "throughput (req/s)": "throughput",
        "p50 (ms)": "p50", "p95 (ms)": "p95", "errors": "errors",
    }, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
