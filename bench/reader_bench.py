"""python bench/reader_bench.py [--candidates 40] [--repeat 50]

The reader's own cost: features + network for one question's candidate sentences (real seed sentences and
their stored e5 vectors), per question and per candidate sentence, warm.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eval.metrics import percentile
from rag.reader.features import Candidate
from rag.reader.scorer import Reader
from rag.settings import Settings
from rag.vector_store import Store


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    from rag.embeddings import make_embeddings

    settings = Settings.from_env()
    store = Store(settings, make_embeddings(settings.embeddings))
    rows = list(store.rows("sentences", embeddings=True))[: args.candidates]
    if not rows:
        print("no index: run `make ingest` first", file=sys.stderr)
        return 1
    # each with the sentence before it, as the answerer passes them
    candidates = [Candidate(r["text"], r["embedding"], rows[i - 1]["text"] if i else "", rows[i - 1]["embedding"] if i else None)
                  for i, r in enumerate(rows)]
    vector = np.asarray(rows[0]["embedding"], dtype=np.float32)
    reader = Reader().warm_up()
    question = "Combien de conversations le chatbot de Klarna gérait-il par mois ?"
    times = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        reader.score(question, vector, candidates, lambda _stem: 2.0)
        times.append((time.perf_counter() - t) * 1000)
    p50, p95 = percentile(times, 0.5), percentile(times, 0.95)
    print(f"reader: {len(candidates)} candidates, p50 {p50:.2f} ms, p95 {p95:.2f} ms per question; "
          f"{p50 / len(candidates):.3f} ms per candidate sentence (p50)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
