"""python -m training.verifier --data ../shared/data/qa [--questions 200] [--pairs FILE] [--out rag/verifier.json]

Fits the check every generated sentence passes (rag.verify) on a labelled set built from the public dev split
(articles the reader never trained on), and measures it as a classifier on a part kept out of the fit.

For each answerable question, the passage is its paragraph and the answer sentence S the one holding the gold answer:
- supported: S as written; S's clause that holds the answer; S without its parentheses and its opening clause; the
  answer restating the question (its words, then the gold answer) when the passage holds the names and numbers the
  question says;
- unsupported: S with a number changed, S with a name swapped for one from another article, S with its answer
  replaced by another article's answer of the same kind (a fact taken from another passage), and a sentence of
  another article cited to this passage.
And our own labelled pairs (--pairs, training/data/verifier/paraphrases.jsonl: a dev question's id and two sentences
we wrote, never the passage, read here from the data): for 160 answer sentences, a faithful paraphrase as a generative
model writes one (reordered, synonyms, other verb forms, nominalised; French and English as in the data) and an
unsupported variant (a number, date or name changed, an entity swapped, a fact the passage does not hold).
Half of the articles (by a hash of the title; the pairs file says which half each is in) fit the weights, each kind
of sentence weighing the same, and the threshold: the lowest P that stops STOP (0.95) of the unsupported sentences
there. The other half is the report: the share of unsupported sentences stopped and of supported ones kept, by kind.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import sys
from pathlib import Path

import numpy as np

from rag.embeddings import make_embeddings
from rag.text import sentence_spans
from rag.verify import (
    FEATURES,
    NUMBER,
    SOFT_DEPTH,
    WEIGHTS,
    measures,
    missing_facts,
    names,
    similarities,
    soft_alignment,
    soft_window,
    with_soft,
    word_states,
)
from training.reader import data
from training.reader.data import digest as data_digest

CANDIDATES = ("aligned", "unmatched_run", "facts_near", "pairs_near", "pairs_apart",  # the measures the fit may read
              "soft_min", "soft_mean", "soft_pair")
STOP = 0.95  # share of the unsupported sentences of the fitting half the threshold stops (the done-when's target)
PAIRS = Path(__file__).parent / "data" / "verifier" / "paraphrases.jsonl"
HALVES = {"fit": "fit", "kept out": "report"}


def labelled_pairs(path: Path, corpus: data.Corpus, dev: set[str]) -> list[tuple[data.Question, str, str, str, str]]:
    """(question, supported paraphrase, unsupported variant, its kind, half) of each line of our pairs file."""
    by_id = {q.id: q for q in corpus.questions}
    out = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        pair = json.loads(line)
        q = by_id.get(pair.get("id"))
        if q is None or q.article not in dev or q.answer_sentence is None:
            raise SystemExit(f"{path}:{number}: {pair.get('id')!r} is no answerable question of the public dev split in "
                             "this data: fix the id, or check --data")
        if HALVES.get(pair.get("half")) != half(q.article):
            raise SystemExit(f"{path}:{number}: {q.id} is in the {half(q.article)!r} half (a hash of its article's title): "
                             f"set \"half\" to {next(k for k, v in HALVES.items() if v == half(q.article))!r}")
        out.append((q, pair["paraphrase"], pair["unsupported"], pair["kind"], half(q.article)))
    return out


def weighted_logistic(z: np.ndarray, y: np.ndarray, weight: np.ndarray, l2: float = 1.0) -> tuple[np.ndarray, float]:
    """Logistic regression by Newton's method, each row counting `weight` times."""
    a = np.hstack([z, np.ones((len(z), 1))])
    w = np.zeros(a.shape[1])
    penalty = np.full(a.shape[1], l2)
    penalty[-1] = 0.0
    for _ in range(50):
        p = 1 / (1 + np.exp(-np.clip(a @ w, -30, 30)))
        grad = a.T @ (weight * (p - y)) + penalty * w
        hess = (a * (weight * p * (1 - p))[:, None]).T @ a + np.diag(penalty) + 1e-9 * np.eye(a.shape[1])
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    return w[:-1], float(w[-1])


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


def fit(x: np.ndarray, y: np.ndarray, kinds: np.ndarray, rows: np.ndarray):
    """(measures read, weights, bias, mean, scale, threshold) fitted on `rows`. Facts first: a number or name the passage
    lacks is never supported, whatever the meaning; the meaning model is fitted on the sentences whose facts are all
    there, each kind of sentence weighing the same, from CANDIDATES."""
    facts_ok = x[:, FEATURES.index("missing")] == 0
    meaning = [FEATURES.index(name) for name in CANDIDATES]
    train = rows & facts_ok
    count = {k: int((train & (kinds == k)).sum()) for k in set(kinds[train])}
    weight = np.asarray([train.sum() / (len(count) * count[k]) for k in kinds[train]])
    while True:  # each measure may only argue for support: one that gets a negative weight is left out, and refit
        mean, scale = x[train][:, meaning].mean(axis=0), x[train][:, meaning].std(axis=0)
        scale[scale < 1e-9] = 1.0
        w, b = weighted_logistic((x[train][:, meaning] - mean) / scale, y[train], weight)
        if w.min() >= 0 or len(meaning) == 1:
            break
        meaning.pop(int(np.argmin(w)))
    # the threshold: the lowest P that stops STOP of the fitting rows' unsupported sentences (those the facts rule stops
    # count: P 0). Safety first: a sentence dropped lets the extractive answer stand in; one kept wrongly is shown
    stopped = np.sort(probability(x[rows & (y == 0)], meaning, w, b, mean, scale))
    threshold = float(stopped[int(np.ceil(STOP * len(stopped))) - 1]) + 1e-9
    return meaning, w, b, mean, scale, threshold


def probability(x: np.ndarray, meaning, w, b, mean, scale) -> np.ndarray:
    p = 1 / (1 + np.exp(-np.clip(((x[:, meaning] - mean) / scale) @ w + b, -30, 30)))
    p[x[:, FEATURES.index("missing")] > 0] = 0.0
    return p


def figures(p: np.ndarray, threshold: float, mask: np.ndarray, y: np.ndarray, kinds: np.ndarray) -> dict:
    """The share of the supported sentences kept and of the unsupported ones stopped among `mask`, ours, by kind."""
    ours = np.char.endswith(kinds.astype(str), "(ours)")
    share = lambda m: round(float(m.mean()), 4) if m.size else None
    return {
        "supported": int((mask & (y == 1)).sum()), "unsupported": int((mask & (y == 0)).sum()),
        "kept_supported": share(p[mask & (y == 1)] >= threshold),
        "stopped_unsupported": share(p[mask & (y == 0)] < threshold),
        "our_pairs": {"paraphrases_kept": share(p[mask & ours & (y == 1)] >= threshold),
                      "unsupported_stopped": share(p[mask & ours & (y == 0)] < threshold),
                      "pairs": int((mask & ours & (y == 1)).sum())},
        "by_kind": {kind: share(((p >= threshold) == (y == 1))[mask & (kinds == kind)])
                    for kind in sorted(set(kinds)) if (mask & (kinds == kind)).any()},
    }


def nearest(embedder, passage: str, texts: list[str]) -> list[tuple[float, int]]:
    """(e5 cosine, index) of the passage sentence nearest each text: the measures that need the embedder (cached)."""
    spans = sentence_spans(passage) or [(0, len(passage))]
    vectors = np.asarray(embedder.embed_documents([passage[a:b] for a, b in spans] + texts), dtype=np.float32)
    cos = vectors[len(spans):] @ vectors[: len(spans)].T
    return [(float(c.max()), int(c.argmax())) for c in cos]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--questions", type=int, default=200, help="answerable dev questions to build the set from")
    parser.add_argument("--pairs", type=Path, default=PAIRS, help="our labelled paraphrases and unsupported variants")
    parser.add_argument("--out", type=Path, default=WEIGHTS)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--cv", type=int, default=5, help="folds (by article) to cross-validate the fitting half in; 0: none")
    parser.add_argument("--cache", type=Path, default=Path("data/verifier-work"), help="keeps the e5 measures of the labelled set")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    corpus = data.load(args.data)
    _, dev = data.split_articles(corpus)
    by_id = {q.id: q for q in corpus.questions}
    pairs = labelled_pairs(args.pairs, corpus, dev)
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

    def passage_of(q: data.Question) -> str:
        return " ".join(corpus.sentences[i].text for i in corpus.by_paragraph[q.paragraph])

    def article_title(q: data.Question) -> str:  # as the model reads it above the passage
        return q.article.split(":", 1)[-1].replace("_", " ")

    made = []  # (question, text, label, kind, half)
    for q in picked:
        others = [o for o in picked if o.article != q.article and o.language == q.language]
        o = rng.choice(others)
        other_names = sorted(by_article_names.get(o.article, set()))
        restated = f"{re.sub(r'[?¿]+$', '', q.text).strip()} : {q.answers[0]}."  # what a short generated answer looks like
        if missing_facts(restated, passage_of(q), article_title(q), q.text):
            # the question names what its passage does not ("Bond" asked of a paragraph that says "the film"): restated,
            # it is a sentence the check must stop (a name or number the cited passage lacks), so not a supported one
            restated = ""
        made += [(q, text, label, kind, half(q.article)) for text, label, kind in
                 variants(corpus.sentences[q.answer_sentence].text, q.answers[0], rng, other_names,
                          corpus.sentences[o.answer_sentence].text, o.answers[0], restated)]
    made += [(q, text, label, kind, part) for q, paraphrase, unsupported, kind, part in pairs
             for text, label, kind in ((paraphrase, 1, "paraphrase (ours)"), (unsupported, 0, f"{kind} (ours)"))]
    # the e5 measures, the slow part, are kept by text (a sentence and its passage): the word measures are recomputed
    cache = args.cache / f"nearest-v4-{data_digest(args.data)}.json"
    known = json.loads(cache.read_text()) if cache.is_file() else {}
    todo: dict[str, list[str]] = {}
    for q, text, *_rest in made[::-1]:  # our pairs first
        if f"{q.id}\t{text}" not in known:
            todo.setdefault(q.id, []).append(text)
    if todo:
        embedder = make_embeddings("e5-small")
        cache.parent.mkdir(parents=True, exist_ok=True)
        for k, (qid, texts) in enumerate(todo.items(), start=1):
            for text, found in zip(texts, nearest(embedder, passage_of(by_id[qid]), texts)):
                known[f"{qid}\t{text}"] = found
            if k % 20 == 0 or k == len(todo):
                print(f"e5: {k}/{len(todo)} passages", file=sys.stderr, flush=True)
                cache.write_text(json.dumps(known))  # an interrupted run resumes from here
    # the token similarities (e5 word states of the sentence and the window it restates) where the facts are all there,
    # kept by the texts they read (the word measures, _match included, are recomputed)
    soft_cache = args.cache / f"similarities-{SOFT_DEPTH}-{data_digest(args.data)}.json"
    similar = json.loads(soft_cache.read_text()) if soft_cache.is_file() else {}
    rows, labels, kinds, parts = [], [], [], []
    for k, (q, text, label, kind, part) in enumerate(made, start=1):
        passage, title = passage_of(q), article_title(q)
        spans = sentence_spans(passage) or [(0, len(passage))]
        cos, best = known[f"{q.id}\t{text}"]
        claim, window = soft_window(text, passage, spans, best, q.text)
        key = hashlib.sha256(f"{claim}\0{window}".encode()).hexdigest()
        row = measures(text, cos, best, passage, spans, q.text, title)
        if key not in similar and row[FEATURES.index("missing")] == 0:
            similar[key] = similarities(claim, window, word_states)
            if len(similar) % 200 == 0:
                print(f"e5 word states: {k}/{len(made)} sentences", file=sys.stderr, flush=True)
                soft_cache.write_text(json.dumps(similar))  # an interrupted run resumes from here
        rows.append(with_soft(row, lambda key=key, window=window: soft_alignment([tuple(p) for p in similar[key]], window)))
        labels.append(label)
        kinds.append(kind)
        parts.append(part)
    soft_cache.write_text(json.dumps(similar))
    x, y, kinds_ = np.asarray(rows), np.asarray(labels, dtype=np.float64), np.asarray(kinds)
    fit_rows = np.asarray([p == "fit" for p in parts])
    groups = np.asarray([int(hashlib.sha256(q.article.encode()).hexdigest(), 16) for q, *_rest in made])
    meaning, w, b, mean, scale, threshold = fit(x, y, kinds_, fit_rows)
    p = probability(x, meaning, w, b, mean, scale)
    report = {}
    if args.cv:  # the fitting half cross-validated, folds by article (no paragraph on both sides): each fold judged by a fit on the others
        kept = np.zeros(len(x), dtype=bool)
        for k in range(args.cv):
            fold = fit_rows & (groups % args.cv == k)
            *model, fold_threshold = fit(x, y, kinds_, fit_rows & ~fold)
            kept[fold] = probability(x[fold], *model) >= fold_threshold
        report["fit, cross-validated"] = figures(kept.astype(float), 0.5, fit_rows, y, kinds_)
    for part in ("fit", "report"):
        report[part] = figures(p, threshold, np.asarray([q == part for q in parts]), y, kinds_)
    out = {"soft_depth": SOFT_DEPTH, "features": [FEATURES[i] for i in meaning], "weights": w.tolist(), "bias": b, "mean": mean.tolist(), "scale": scale.tolist(),
           "threshold": threshold, "about": {"made_by": "python -m training.verifier --data ../shared/data/qa",
                                             "questions": args.questions, "pairs": os.path.relpath(args.pairs), "sentences": len(rows),
                                             "stop": STOP, "figures": report}}
    args.out.write_text(json.dumps(out, indent=1), encoding="utf-8")
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
