"""python -m training.reader.train --data ../shared/data/qa [--out rag/reader/weights] [--epochs 8] [--hidden 32]

Trains the reader on this CPU with a fixed seed (about 15 minutes on 2 cores, most of it embedding the
corpus once; the embeddings and mined negatives are cached under data/reader-cache):
1. reads PIAF (French) and SQuAD 2.0 (English), splits articles into train and dev (training.reader.data);
2. embeds every sentence and question with e5 and mines, for each question, the sentences the project's own
   hybrid search finds across all articles (the near misses the reader meets in production);
3. computes each candidate's features (rag.reader.features): its paragraph's sentences and the mined ones;
4. trains a small network (binary cross-entropy, AdamW), printing dev metrics after each epoch;
5. fits the calibration (Platt scaling) on the dev split and writes rag/reader/weights/scorer.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from rag.reader.features import NAMES
from rag.reader.scorer import CROSS_LANGUAGE, MEANING_ONLY, SAME_LANGUAGE, WEIGHTS, Scorer

from . import data
from .evaluate import dev_metrics, fit_calibration

SEED = 13
# Below these calibrated probabilities the bot abstains. Chosen on eval/cases/tuning.jsonl with
# `python eval/thresholds.py` (never on the held-out file); the dev split's questions always have a candidate
# from their own paragraph, unlike a user's, so its calibration alone does not say where to stop.
THRESHOLDS = {SAME_LANGUAGE: 0.07, CROSS_LANGUAGE: 0.018}


def train(x: np.ndarray, y: np.ndarray, x_dev: np.ndarray, on_epoch, hidden: int, epochs: int, lr: float,
          batch: int, inputs: tuple[str, ...] = NAMES) -> tuple[Scorer, np.ndarray]:
    """The network over the `inputs` columns and its dev logits; `on_epoch(epoch, dev_logits)` reports progress."""
    columns = [NAMES.index(n) for n in inputs]
    x, x_dev = x[:, columns], x_dev[:, columns]
    mean, scale = x.mean(0), x.std(0) + 1e-6
    net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, 1))
    optimizer = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    rows, labels = torch.tensor((x - mean) / scale), torch.tensor(y)
    dev = torch.tensor((x_dev - mean) / scale)
    generator = torch.Generator().manual_seed(SEED)
    for epoch in range(1, epochs + 1):
        net.train()
        order = torch.randperm(len(rows), generator=generator)
        for i in tqdm(range(0, len(order), batch), desc=f"epoch {epoch}", unit="batch", mininterval=5, leave=False):
            idx = order[i:i + batch]
            loss = torch.nn.functional.binary_cross_entropy_with_logits(net(rows[idx]).squeeze(-1), labels[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        with torch.inference_mode():
            dev_logits = net(dev).squeeze(-1).numpy()
        on_epoch(epoch, dev_logits)
    first, second = net[0], net[2]
    scorer = Scorer(tuple(inputs), mean.astype(np.float32), scale.astype(np.float32), first.weight.detach().numpy().T.copy(),
                    first.bias.detach().numpy().copy(), second.weight.detach().numpy()[0].copy(),
                    float(second.bias.detach()[0]), (1.0, 0.0))
    return scorer, dev_logits


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="folder of SQuAD-format *.json.gz files")
    parser.add_argument("--out", type=Path, default=WEIGHTS, help="folder for scorer.json and scorer-crosslingual.json")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--off-article", action=argparse.BooleanOptionalAction, default=True,
                        help="train on off-article groups too (what the search finds in other articles, all wrong)")
    parser.add_argument("--cache", type=Path, default=Path("data/reader-cache"), help="where embeddings and mined negatives are kept")
    args = parser.parse_args(argv)

    data.seed_everything(SEED, args.threads)
    started = time.time()
    clock = lambda: f"[{time.time() - started:.0f}s]"
    ready = data.prepare(args.data, args.cache)
    corpus, train_articles, dev_articles, vecs, found = ready.corpus, ready.train_articles, ready.dev_articles, ready.vectors, ready.found
    idf = data.paragraph_idf(corpus)
    x, train_pairs = data.features(corpus, train_articles, found, vecs, idf, off_article=args.off_article)
    x_dev, dev_pairs = data.features(corpus, dev_articles, found, vecs, idf, off_article=True)
    y = np.asarray([p.label for p in train_pairs], dtype=np.float32)
    print(f"{len(corpus.questions)} questions, {len(train_articles)} train / {len(dev_articles)} dev articles: "
          f"{len(train_pairs)} train pairs ({int(y.sum())} positive), {len(dev_pairs)} dev pairs {clock()}", flush=True)

    def report(epoch: int, dev_logits: np.ndarray) -> None:
        m = dev_metrics(corpus, dev_pairs, dev_logits)
        print(f"epoch {epoch}: " + "  ".join(f"{k}={v}" for k, v in m.items()) + f"  {clock()}", flush=True)

    args.out.mkdir(parents=True, exist_ok=True)
    for name, inputs in ((SAME_LANGUAGE, NAMES), (CROSS_LANGUAGE, MEANING_ONLY)):
        print(f"{name}: {', '.join(inputs)}", flush=True)
        torch.manual_seed(SEED)
        scorer, dev_logits = train(x, y, x_dev, report, args.hidden, args.epochs, args.lr, args.batch, inputs)
        a, b = fit_calibration(dev_pairs, dev_logits)  # off-article groups count as unanswerable here
        scorer = dataclasses.replace(scorer, calibration=(a, b), threshold=THRESHOLDS[name])
        meta = {"dev": dev_metrics(corpus, dev_pairs, dev_logits), "off_article_negatives": args.off_article, "seed": SEED,
                "train_pairs": len(train_pairs), "dev_pairs": len(dev_pairs), "epochs": args.epochs, "hidden": args.hidden,
                "lr": args.lr, "batch": args.batch, "minutes": round((time.time() - started) / 60, 1)}
        (args.out / name).write_text(scorer.to_json(meta))
        print(f"calibration a={a:.4f} b={b:.4f}; weights in {args.out / name} {clock()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
