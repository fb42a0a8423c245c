"""python bench/ingest_bench.py: ingest throughput against the embedder's raw batch throughput, same texts,
same run; then an unchanged re-ingest against the first. Results go to bench/ingest_results.md."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rag.chunking import split
from rag.documents import load
from rag.embeddings import make_embeddings
from rag.indexing import BATCH, discover, ingest
from rag.settings import Settings

HERE = Path(__file__).resolve().parent


def main() -> int:
    base = Settings.from_env()
    settings = base.replace(data_dir=HERE / "corpus" / "ingest", collection="ingest")
    shutil.rmtree(settings.data_dir, ignore_errors=True)
    files, _ = discover([base.docs])
    texts = []
    for f in files:
        chunks, sentences = split(load(f, 10**8), settings.chunk_size, settings.chunk_overlap)
        texts += [p.text for p in chunks + sentences]
    embeddings = make_embeddings(settings.embeddings)
    embeddings.embed_documents(texts[:2])  # load the model outside the timing
    t = time.perf_counter()
    for i in range(0, len(texts), BATCH):
        embeddings.embed_documents(texts[i : i + BATCH])
    raw = time.perf_counter() - t
    first = ingest([base.docs], settings, log=lambda _m: None, progress=False)
    again = ingest([base.docs], settings, log=lambda _m: None, progress=False)
    rows = [
        ("texts embedded (chunks + sentences)", len(texts)),
        ("raw embedder batch throughput (texts/s)", round(len(texts) / raw, 1)),
        ("first ingest throughput (texts/s)", round(first.embedded / first.seconds, 1)),
        ("ingest / raw throughput ratio", round((first.embedded / first.seconds) / (len(texts) / raw), 3)),
        ("first ingest (s)", round(first.seconds, 2)),
        ("unchanged re-ingest (s)", round(again.seconds, 2)),
        ("re-ingest texts embedded", again.embedded),
    ]
    table = "| ingest of seeds/ (" + settings.embeddings + ") | value |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows)
    (HERE / "ingest_results.md").write_text(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
