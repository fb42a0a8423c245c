"""python eval/dev_split.py --data ../shared/data/qa [--json OUT] [--cross-encoder DIR]

The public dev split (PIAF and SQuAD 2.0 articles the reader never trained on): every question's candidates
(its paragraph's sentences and what hybrid search finds across all articles) scored by the shipped reader and
by the rules scorer, with the same metrics (training.reader.evaluate): sentence accuracy and answerable/unanswerable
ROC AUC; with --cross-encoder, also the cross-encoder experiment (slow: ~9 minutes).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rag.answerers.rules import (
    _has_type,
    _Sentence,
    _term_weights,
    confidence_of,
    expected_type,
    question_coverage,
    sentence_score,
)
from rag.reader.scorer import CROSS_LANGUAGE, SAME_LANGUAGE, WEIGHTS, Scorer
from rag.text import language
from training.reader import data
from training.reader.evaluate import metrics


def rules_scores(pairs, vectors: dict[str, np.ndarray], question_vectors, idf) -> tuple[np.ndarray, np.ndarray]:
    """(ranking score, confidence) of each pair as rag/answerers/rules.py computes them: e5 similarity, rare words, answer type."""
    score, confidence = np.zeros(len(pairs)), np.zeros(len(pairs))
    for i, p in enumerate(pairs):
        weights = _term_weights(p.question, p.question, idf)
        covered = question_coverage(weights, p.candidate, p.previous)
        kind = expected_type(p.question)
        s = _Sentence(p.candidate, 0, 0, None, 0, float(vectors[p.candidate] @ question_vectors[p.group]), covered,
                      _has_type(p.candidate, kind, p.question))
        score[i] = sentence_score(s)
        confidence[i] = confidence_of(s, language(p.question))
    return score, confidence


def cross_encoder_scores(pairs, weights: Path) -> np.ndarray:
    from training.reader.model import Reader

    reader = Reader(weights).warm_up()
    by_question: dict[int, list[int]] = {}
    for i, p in enumerate(pairs):
        by_question.setdefault(p.group, []).append(i)
    out = np.zeros(len(pairs), dtype=np.float64)
    for idx in by_question.values():
        out[idx] = reader.logits(pairs[idx[0]].question, [(pairs[i].candidate, pairs[i].previous) for i in idx])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="folder of the SQuAD-format training files")
    parser.add_argument("--weights", type=Path, default=WEIGHTS)
    parser.add_argument("--cross-encoder", type=Path, help="folder of cross-encoder weights to score as well")
    parser.add_argument("--cache", type=Path, default=Path("data/reader-cache"))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    started = time.time()
    ready = data.prepare(args.data, args.cache)
    corpus, dev_articles, vecs, found = ready.corpus, ready.dev_articles, ready.vectors, ready.found
    idf = data.paragraph_idf(corpus)
    features, pairs = data.features(corpus, dev_articles, found, vecs, idf)
    print(f"dev split: {len(dev_articles)} articles, {len({p.group for p in pairs})} questions, {len(pairs)} pairs", file=sys.stderr)
    result = {}
    for name, file in (("reader", SAME_LANGUAGE), ("reader (meaning only)", CROSS_LANGUAGE)):
        result[name] = metrics(pairs, Scorer.load(args.weights / file).logits(features))
    by_text = {s.text: vecs.sentences[i] for i, s in enumerate(corpus.sentences)}
    rank, confidence = rules_scores(pairs, by_text, vecs.questions, idf)
    result["rules"] = metrics(pairs, rank)
    # the rules rank by score but abstain by confidence: separation measured on both
    rules_conf = metrics(pairs, confidence)
    result["rules"]["answerable_auc_confidence"] = rules_conf["answerable_auc"]
    result["rules"]["impossible_auc_confidence"] = rules_conf["impossible_auc"]
    if args.cross_encoder:
        result["cross-encoder"] = metrics(pairs, cross_encoder_scores(pairs, args.cross_encoder))
    result["seconds"] = round(time.time() - started)
    for name, m in result.items():
        if isinstance(m, dict):
            print(f"{name:>22}: " + "  ".join(f"{k}={v}" for k, v in m.items()))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
