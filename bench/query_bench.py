"""python bench/query_bench.py [--sizes 1000 10000 100000] [--queries 40] [--table bench/results.md]

With RAG_READER=model it measures the reader (write its table elsewhere with --table).

Warm latency of retrieve() and ask() on the seeds, then on synthetic corpora of 1k, 10k and 100k chunks.
Synthetic chunks recombine real seed sentences (real text, real BM25 index, real Chroma HNSW index); their
vectors are real sentence vectors averaged and perturbed with small noise, since embedding 100k chunks on
2 CPU cores would take hours. Built once under bench/corpus/ (git-ignored); results go to bench/results.md.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.table import write_table
from eval.cases import load_cases
from eval.metrics import percentile
from rag.indexing import ingest
from rag.pipeline import Pipeline
from rag.settings import Settings
from rag.vector_store import Store

HERE = Path(__file__).resolve().parent


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build_synthetic(seed_settings: Settings, size: int) -> Settings:
    settings = seed_settings.replace(data_dir=HERE / "corpus" / f"n{size}", collection=f"synthetic{size}")
    seeds = Store(seed_settings, Pipeline(seed_settings).embeddings).open()
    target = Store(settings, seeds.embeddings).open(create=True)
    if target.count() >= size:
        return settings
    rows = list(seeds.rows("sentences", embeddings=True))
    rng = random.Random(size)
    nprng = np.random.default_rng(size)
    for start in range(target.count(), size, 1000):
        ids, docs, metas, vecs = [], [], [], []
        for i in range(start, min(start + 1000, size)):
            picks = rng.sample(rows, 4)
            text = " ".join(r["text"] for r in picks)
            vec = np.mean([r["embedding"] for r in picks], axis=0) + nprng.normal(0, 0.01, len(picks[0]["embedding"]))
            vec /= np.linalg.norm(vec)
            ids.append(f"syn{i}")
            docs.append(text)
            metas.append({"source": f"synthetic_{i // 100}.txt", "path": f"synthetic/{i}", "title": "synthetic",
                          "date": "", "chunk_index": i % 100, "start": 0, "end": len(text)})
            vecs.append(vec.tolist())
        for which in ("chunks", "sentences"):  # sentence rows let ask() score the synthetic chunks
            target.upsert(which, ids, docs, metas, vecs)
    target.stamp_version()
    return settings


def measure(settings: Settings, questions: list[str], label: str) -> dict:
    t = time.perf_counter()
    pipeline = Pipeline(settings).warm_up()
    load_s = time.perf_counter() - t
    for q in questions[:5]:
        pipeline.ask(q)
    retrieve_ms, ask_ms = [], []
    for q in questions:
        t = time.perf_counter()
        pipeline.retrieve(q)
        retrieve_ms.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        pipeline.ask(q)
        ask_ms.append((time.perf_counter() - t) * 1000)
    answer_ms = [pipeline.ask(q).timings.get("answer_ms", 0.0) for q in questions[:10]]
    row = {"corpus": label, "chunks": pipeline.store.count(), "load_s": round(load_s, 1), "answer_p50": percentile(answer_ms, 0.5),
           "retrieve_p50": percentile(retrieve_ms, 0.5), "retrieve_p95": percentile(retrieve_ms, 0.95),
           "ask_p50": percentile(ask_ms, 0.5), "ask_p95": percentile(ask_ms, 0.95), "peak_rss_mb": round(rss_mb())}
    print(row, flush=True)
    return row


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="*", default=[1000, 10000, 100000])
    parser.add_argument("--queries", type=int, default=40)
    parser.add_argument("--table", type=Path, default=HERE / "results.md")
    args = parser.parse_args()
    base = Settings.from_env()
    seed_settings = base.replace(data_dir=HERE / "corpus" / "seeds", collection="seeds")
    ingest([base.docs], seed_settings, log=lambda _m: None, progress=False)
    questions = [c.question for c in load_cases(HERE.parent / "eval/cases/tuning.jsonl") if c.expect != "handoff"][: args.queries]
    rows = [measure(seed_settings, questions, "seeds")]
    for size in args.sizes:
        t = time.perf_counter()
        settings = build_synthetic(seed_settings, size)
        print(f"synthetic {size}: ready in {time.perf_counter() - t:.0f}s", flush=True)
        rows.append(measure(settings, questions, f"synthetic {size}"))
    write_table(args.table, {
        "corpus": "corpus", "chunks": "chunks", "load (s)": "load_s", "retrieve p50 (ms)": "retrieve_p50",
        "retrieve p95 (ms)": "retrieve_p95", "ask p50 (ms)": "ask_p50", "answer step p50 (ms)": "answer_p50", "ask p95 (ms)": "ask_p95", "peak RSS (MB)": "peak_rss_mb",
    }, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
