"""python -m training.verifier --data ../shared/data/qa [--questions 400] [--out rag/verifier.json]

Fits the check every generated sentence passes (rag.verify) on a labelled set built from the public dev split
(articles the reader never trained on), and measures it as a classifier on a part kept out of the fit.

For each answerable question, the passage is its paragraph and the answer sentence S the one holding the gold answer:
- supported: S as written; S's clause that holds the answer; S without its parentheses and its opening clause; the
  answer restating the question (its words, then the gold answer);
- unsupported: S with a number changed, S with a name swapped for one from another article, S with its answer
  replaced by another article's answer of the same kind (a fact taken from another passage), and a sentence of
  another article cited to this passage.
Half of the articles (by a hash of the title) fit the weights and the threshold (the lowest P keeping 0.9 of the
supported sentences); the other half is the report: the share of unsupported sentences stopped and of supported
ones kept.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import sys
from pathlib import Path

import numpy as np

from rag.calibration import newton_logistic
from rag.embeddings import make_embeddings
from rag.text import sentence_spans
from rag.verify import FEATURES, NUMBER, WEIGHTS, features, names
from training.reader import data
from training.reader.data import digest as data_digest

KEEP = 0.9  # share of supported sentences the threshold keeps on the fitting half


def half(title: str) -> str:
    return "fit" if int(hashlib.sha256(title.encode()).hexdigest(), 16) % 2 == 0 else "report"


def variants(sentence: str, answer: str, rng: random.Random, other_names: list[str], other: str, other_answer: str,
             restated: str = "") -> list[tuple[str, int, str]]:
    """(text, supported?, kind) made from one answer sentence."""
    out = [(sentence, 1, "as written")]
    if restated:
        out.append((restated, 1, "question restated"))
    clauses = [c.strip() for c in re.split(r"[,;:]\s", sentence) if answer in c]
    if clauses and len(clauses[0].split()) >= 4 and clauses[0] != sentence:
        out.append((clauses[0].rstrip(".") + ".", 1, "clause"))
    trimmed = re.sub(r"\s*\([^)]*\)", "", sentence)
    if "," in trimmed[: len(trimmed) // 2]:
        rest = trimmed.split(",", 1)[1].strip()
        if len(rest.split()) >= 5:
            trimmed = rest[0].upper() + rest[1:]
    if trimmed != sentence:
        out.append((trimmed, 1, "trimmed"))
    found = list(NUMBER.finditer(sentence))
    if found:
        m = rng.choice(found)
        digits = list(m.group())
        i = rng.choice([k for k, c in enumerate(digits) if c.isdigit()])
        digits[i] = str((int(digits[i]) + rng.randint(1, 8)) % 10)
        if "".join(digits) != m.group():
            out.append((sentence[: m.start()] + "".join(digits) + sentence[m.end():], 0, "number changed"))
    mine = [w for w in re.findall(r"\b[A-ZÉÈ][\w'-]+", sentence[1:]) if w.lower() in names(sentence)]
    if mine and other_names:
        out.append((sentence.replace(rng.choice(mine), rng.choice(other_names), 1), 0, "name swapped"))
    if answer and other_answer and answer in sentence and other_answer not in sentence:
        out.append((sentence.replace(answer, other_answer, 1), 0, "answer from another passage"))
    out.append((other, 0, "another article's sentence"))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--questions", type=int, default=400, help="answerable dev questions to build the set from")
    parser.add_argument("--out", type=Path, default=WEIGHTS)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--cache", type=Path, default=Path("data/verifier-work"), help="keeps the labelled set's measures")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    corpus = data.load(args.data)
    _, dev = data.split_articles(corpus)
    questions = sorted((q for q in corpus.questions if q.article in dev and q.answer_sentence is not None and q.answers),
                       key=lambda q: hashlib.sha256(q.id.encode()).hexdigest())
    picked, seen = [], set()
    for q in questions:  # one question per answer sentence
        if q.answer_sentence not in seen:
            seen.add(q.answer_sentence)
            picked.append(q)
    picked = picked[: args.questions]
    by_article_names = {}
    for s in corpus.sentences:
        if s.article in dev:
            by_article_names.setdefault(s.article, set()).update(re.findall(r"\b[A-ZÉÈ][a-zà-ÿ]{3,}", s.text[1:]))
    cache = args.cache / f"set-v3-{args.questions}-{args.seed}-{data_digest(args.data)}.json"
    if cache.is_file():  # the labelled set and its measures, from an earlier run on the same data
        rows, labels, kinds, parts = json.loads(cache.read_text())
        picked = []
    else:
        rows, labels, kinds, parts = [], [], [], []
    embedder = make_embeddings("e5-small") if picked else None
    for k, q in enumerate(picked):
        sentence = corpus.sentences[q.answer_sentence].text
        passage = " ".join(corpus.sentences[i].text for i in corpus.by_paragraph[q.paragraph])
        others = [o for o in picked if o.article != q.article and o.language == q.language]
        o = rng.choice(others)
        other_names = sorted(by_article_names.get(o.article, set()))
        restated = f"{re.sub(r'[?¿]+$', '', q.text).strip()} : {q.answers[0]}."  # what a short generated answer looks like
        made = variants(sentence, q.answers[0], rng, other_names, corpus.sentences[o.answer_sentence].text, o.answers[0], restated)
        spans = sentence_spans(passage) or [(0, len(passage))]
        vectors = embedder.embed_documents([passage[a:b] for a, b in spans] + [t for t, _, _ in made])
        for (text, label, kind), vector in zip(made, vectors[len(spans):]):
            row, _ = features(text, vector, passage, spans, vectors[: len(spans)], q.text)
            rows.append(row)
            labels.append(label)
            kinds.append(kind)
            parts.append(half(q.article))
        if k % 50 == 0:
            print(f"{k}/{len(picked)} questions, {len(rows)} sentences", file=sys.stderr, flush=True)
    if not cache.is_file():
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps([rows, labels, kinds, parts]))
    x, y = np.asarray(rows), np.asarray(labels, dtype=np.float64)
    fit_rows = np.asarray([p == "fit" for p in parts])
    # facts first: a number or name the passage lacks is never supported, whatever the meaning; the meaning model is
    # fitted on the sentences whose facts are all there
    facts_ok = x[:, FEATURES.index("missing")] == 0
    meaning = [i for i, name in enumerate(FEATURES) if name != "missing"]
    train = fit_rows & facts_ok
    while True:  # each measure may only argue for support: one that gets a negative weight is left out, and refit
        mean, scale = x[train][:, meaning].mean(axis=0), x[train][:, meaning].std(axis=0)
        scale[scale < 1e-9] = 1.0
        w, b = newton_logistic((x[train][:, meaning] - mean) / scale, y[train], 1.0)
        if w.min() >= 0 or len(meaning) == 1:
            break
        meaning.pop(int(np.argmin(w)))
    p = 1 / (1 + np.exp(-(((x[:, meaning] - mean) / scale) @ w + b)))
    p[~facts_ok] = 0.0
    supported_fit = np.sort(p[fit_rows & (y == 1)])
    threshold = float(supported_fit[int((1 - KEEP) * len(supported_fit))]) - 1e-9  # keeps KEEP of them, ties included
    report = {}
    for part in ("fit", "report"):
        mask = np.asarray([q == part for q in parts])
        report[part] = {
            "supported": int((mask & (y == 1)).sum()), "unsupported": int((mask & (y == 0)).sum()),
            "kept_supported": round(float((p[mask & (y == 1)] >= threshold).mean()), 4),
            "stopped_unsupported": round(float((p[mask & (y == 0)] < threshold).mean()), 4),
            "by_kind": {kind: round(float(((p >= threshold) == (y == 1))[mask & (np.asarray(kinds) == kind)].mean()), 4)
                        for kind in sorted(set(kinds))},
        }
    out = {"features": [FEATURES[i] for i in meaning], "weights": w.tolist(), "bias": b, "mean": mean.tolist(), "scale": scale.tolist(),
           "threshold": threshold, "about": {"made_by": "python -m training.verifier --data ../shared/data/qa",
                                             "questions": args.questions, "sentences": len(rows), "keep": KEEP, "figures": report}}
    args.out.write_text(json.dumps(out, indent=1), encoding="utf-8")
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
