"""python eval/dev_split.py --data ../shared/data/qa [--json OUT]

The public dev split (PIAF and SQuAD 2.0 articles the reader never trained on): every question's candidates
(its paragraph's sentences and what hybrid search finds across all articles) scored by the reader and by the
rules scorer, with the same metrics (rag.reader.evaluate): sentence accuracy and answerable/unanswerable ROC AUC.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rag.reader import data
from rag.reader.e5 import embed
from rag.reader.evaluate import metrics
from rag.reader.model import WEIGHTS_DIR, Reader
from rag.rules import CONTEXT_WEIGHT, _has_type, _Sentence, _term_weights, confidence_of, expected_type, sentence_score
from rag.sparse import SparseIndex
from rag.text import language, stems


def reader_scores(pairs, weights: Path) -> np.ndarray:
    reader = Reader(weights).warm_up()
    by_question: dict[str, list[int]] = {}
    for i, p in enumerate(pairs):
        by_question.setdefault(p.question, []).append(i)
    out = np.zeros(len(pairs), dtype=np.float64)
    for question, idx in by_question.items():
        out[idx] = reader.score(question, [(pairs[i].candidate, pairs[i].previous) for i in idx])
    return out


def rules_scores(pairs) -> tuple[np.ndarray, np.ndarray]:
    """(ranking score, confidence) of each pair as rag/rules.py computes them: e5 similarity, rare words, answer type."""
    sentences = sorted({p.candidate for p in pairs} | {p.previous for p in pairs if p.previous})
    questions = sorted({p.question for p in pairs})
    s_vec = dict(zip(sentences, embed(sentences, "passage: ", max_tokens=128)))
    q_vec = dict(zip(questions, embed(questions, "query: ", max_tokens=64)))
    idf = SparseIndex.build([(str(i), s) for i, s in enumerate(sentences)]).idf
    score, confidence = np.zeros(len(pairs)), np.zeros(len(pairs))
    for i, p in enumerate(pairs):
        weights = _term_weights(p.question, p.question, idf)
        total = sum(weights.values()) or 1.0
        own, before = set(stems(p.candidate)), set(stems(p.previous))
        coverage = sum(w for t, w in weights.items() if t in own) / total
        coverage = max(coverage, CONTEXT_WEIGHT * sum(w for t, w in weights.items() if t in own | before) / total)
        kind = expected_type(p.question)
        s = _Sentence(p.candidate, 0, 0, None, 0, float(s_vec[p.candidate] @ q_vec[p.question]), coverage,
                      _has_type(p.candidate, kind, p.question))
        score[i] = sentence_score(s)
        confidence[i] = confidence_of(s, language(p.question))
    return score, confidence


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="folder of the SQuAD-format training files")
    parser.add_argument("--weights", type=Path, default=WEIGHTS_DIR)
    parser.add_argument("--cache", type=Path, default=Path("data/reader-cache"))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    started = time.time()
    corpus = data.load(args.data)
    _train, dev_articles = data.split_articles(corpus)
    found = data.cached(args.cache, args.data, lambda: data.retrieved(corpus, data.cached_vectors(args.cache, args.data, corpus)))
    pairs = data.pairs(corpus, dev_articles, found, 0, None, None)
    print(f"dev split: {len(dev_articles)} articles, {len({p.group for p in pairs})} questions, {len(pairs)} pairs", file=sys.stderr)
    reader = metrics(pairs, reader_scores(pairs, args.weights))
    rank, confidence = rules_scores(pairs)
    rules = metrics(pairs, rank)
    # the rules rank by score but abstain by confidence: separation measured on both
    rules_conf = metrics(pairs, confidence)
    rules["answerable_auc_confidence"] = rules_conf["answerable_auc"]
    rules["impossible_auc_confidence"] = rules_conf["impossible_auc"]
    result = {"reader": reader, "rules": rules, "seconds": round(time.time() - started)}
    for name in ("reader", "rules"):
        print(f"{name:>7}: " + "  ".join(f"{k}={v}" for k, v in result[name].items()))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
