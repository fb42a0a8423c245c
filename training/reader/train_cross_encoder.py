"""python -m training.reader.train_cross_encoder --data ../shared/data/qa [--out DIR] [--layers 3] [--limit N]

An experiment kept for whoever has more compute: fine-tunes the first layers of e5 as a cross-encoder over
(question, sentence, sentence before) with a fixed seed, prints dev metrics per epoch, fits a calibration on
the dev split and writes the weights (training.reader.model). On this 2-core CPU, 3 layers and 32,000 pairs (23 min)
reach dev sentence accuracy 0.48 and answerable AUC 0.64, below the feature scorer that ships
(training.reader.train), and its logit added to that scorer's inputs changes nothing (5-fold on the dev split:
0.620 vs 0.623), so it is not part of the shipped reader. See the README's reader section.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from . import data
from .evaluate import fit_calibration, metrics
from .model import Config, CrossEncoder, save

SEED = 13


def predict(model: CrossEncoder, encoded: list[tuple[list[int], list[int]]], batch_size: int = 64) -> np.ndarray:
    model.eval()
    out = []
    order = np.argsort([len(ids) for ids, _ in encoded])  # similar lengths together: less padding
    with torch.inference_mode():
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            out.append((idx, model(*model.batch([encoded[j] for j in idx])).numpy()))
    logits = np.zeros(len(encoded), dtype=np.float32)
    for idx, values in out:
        logits[idx] = values
    return logits


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="folder of SQuAD-format *.json.gz files")
    parser.add_argument("--out", type=Path, default=Path("data/cross-encoder"))
    parser.add_argument("--layers", type=int, default=Config.layers)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--paragraph-negatives", type=int, default=2)
    parser.add_argument("--retrieved-negatives", type=int, default=2)
    parser.add_argument("--limit", type=int, default=0, help="train on the first N pairs only (a quick check)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cache", type=Path, default=Path("data/reader-cache"), help="where the mined negatives are kept")
    args = parser.parse_args(argv)

    data.seed_everything(SEED, args.threads)
    started = time.time()
    ready = data.prepare(args.data, args.cache)
    corpus, train_articles, dev_articles, found = ready.corpus, ready.train_articles, ready.dev_articles, ready.found
    train = data.pairs(corpus, train_articles, found, SEED, args.paragraph_negatives, args.retrieved_negatives)
    dev = data.pairs(corpus, dev_articles, found, SEED, None, None)
    random.Random(SEED).shuffle(train)
    if args.limit:
        train = train[: args.limit]
    print(f"{len(corpus.questions)} questions, {len(train_articles)} train / {len(dev_articles)} dev articles: "
          f"{len(train)} train pairs ({sum(p.label for p in train)} positive), {len(dev)} dev pairs "
          f"[{time.time() - started:.0f}s]", flush=True)

    model = CrossEncoder(Config(layers=args.layers))
    encode = lambda ps: [model.ids(p.question, p.candidate, p.previous) for p in ps]
    train_ids, dev_ids = encode(train), encode(dev)
    head = [p for n, p in model.named_parameters() if n.startswith("head.")]
    body = [p for n, p in model.named_parameters() if not n.startswith("head.")]
    optimizer = torch.optim.AdamW([{"params": body, "lr": args.lr}, {"params": head, "lr": 20 * args.lr}], weight_decay=0.01)
    steps = args.epochs * ((len(train) + args.batch - 1) // args.batch)
    warmup = max(1, steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / (steps - warmup))))
    loss_fn = nn.BCEWithLogitsLoss()
    labels = torch.tensor([p.label for p in train], dtype=torch.float32)
    for epoch in range(1, args.epochs + 1):
        model.train()
        order = torch.randperm(len(train), generator=torch.Generator().manual_seed(SEED + epoch)).tolist()
        bar = tqdm(range(0, len(order), args.batch), desc=f"epoch {epoch}", unit="batch", mininterval=10)
        running = None
        for i in bar:
            idx = order[i:i + args.batch]
            logits = model(*model.batch([train_ids[j] for j in idx]))
            loss = loss_fn(logits, labels[idx])
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
            bar.set_postfix(loss=f"{running:.3f}", refresh=False)
        dev_logits = predict(model, dev_ids)
        m = metrics(dev, dev_logits)
        print(f"epoch {epoch}: " + "  ".join(f"{k}={v}" for k, v in m.items()) + f"  [{time.time() - started:.0f}s]", flush=True)
    a, b = fit_calibration(dev, dev_logits)
    final = metrics(dev, dev_logits)
    save(model, args.out, {"calibration": {"a": a, "b": b}, "dev": final, "seed": SEED, "train_pairs": len(train),
                           "dev_pairs": len(dev), "epochs": args.epochs, "lr": args.lr, "batch": args.batch,
                           "minutes": round((time.time() - started) / 60, 1)})
    print(f"calibration a={a:.4f} b={b:.4f}; weights in {args.out} [{time.time() - started:.0f}s]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
