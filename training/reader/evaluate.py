"""Dev-split metrics for a sentence scorer, and the calibration of its best score into a probability.

Each question's candidates are scored; the best one is what the bot would quote. Two numbers matter:
- sentence accuracy: for answerable questions, the best candidate is the gold sentence;
- answerable/unanswerable separation (ROC AUC of the best score): answerable questions against unanswerable
  ones, i.e. SQuAD 2.0's impossible questions and every answerable question with its gold sentence taken out
  (the near miss a user's off-corpus question meets: same subject, no answer).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np


def roc_auc(positive: list[float], negative: list[float]) -> float:
    """P(a random positive scores above a random negative), ties counting half."""
    if not positive or not negative:
        return float("nan")
    scores = np.concatenate([positive, negative])
    ranks = np.empty(len(scores))
    order = np.argsort(scores, kind="mergesort")
    ranks[order] = np.arange(1, len(scores) + 1)
    for value in np.unique(scores):  # average ranks of ties
        tie = scores == value
        ranks[tie] = ranks[tie].mean()
    return float((ranks[: len(positive)].sum() - len(positive) * (len(positive) + 1) / 2) / (len(positive) * len(negative)))


def groups(pairs, scores) -> list[tuple[float, float | None, bool]]:
    """Per question, (best score, best score without the gold sentence, whether the best is the gold one)."""
    by_group: dict[int, list[tuple[float, int]]] = defaultdict(list)
    for p, s in zip(pairs, scores):
        by_group[p.group].append((float(s), p.label))
    out = []
    for items in by_group.values():
        best = max(items, key=lambda x: (x[0], -x[1]))  # a tie counts against the gold sentence: no credit for luck
        rest = [s for s, label in items if not label]
        out.append((best[0], max(rest) if rest else None, bool(best[1]) if any(lab for _, lab in items) else None))
    return out


def metrics(pairs, scores) -> dict[str, float]:
    g = groups(pairs, scores)
    answerable = [x for x in g if x[2] is not None]
    unanswerable = [best for best, _rest, correct in g if correct is None] + [rest for _b, rest, c in answerable if rest is not None]
    return {
        "questions": len(g),
        "sentence_accuracy": round(sum(c for _b, _r, c in answerable) / max(1, len(answerable)), 4),
        "answerable_auc": round(roc_auc([b for b, _r, _c in answerable], unanswerable), 4),
        "impossible_auc": round(roc_auc([b for b, _r, _c in answerable], [b for b, _r, c in g if c is None]), 4),
    }


def calibration_set(pairs, scores) -> tuple[np.ndarray, np.ndarray]:
    """Best scores and whether quoting the best is right: answerable questions as they are, and with the gold removed."""
    x, y = [], []
    for best, rest, correct in groups(pairs, scores):
        x.append(best)
        y.append(1.0 if correct else 0.0)
        if correct is not None and rest is not None:
            x.append(rest)
            y.append(0.0)
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)


def fit_calibration(pairs, scores, iterations: int = 200) -> tuple[float, float]:
    """Platt scaling: P(right) = sigmoid(a * score + b), by Newton's method on the log-loss."""
    x, y = calibration_set(pairs, scores)
    a, b = 1.0, 0.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(a * x + b)))
        w = np.maximum(p * (1 - p), 1e-9)
        grad = np.array([np.sum((p - y) * x), np.sum(p - y)])
        hess = np.array([[np.sum(w * x * x), np.sum(w * x)], [np.sum(w * x), np.sum(w)]]) + 1e-6 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        a, b = a - step[0], b - step[1]
        if np.abs(step).max() < 1e-8:
            break
    return round(float(a), 6), round(float(b), 6)


def dev_metrics(corpus, dev_pairs, logits) -> dict[str, float]:
    """`metrics` on the dev questions' own groups, and `off_article_auc`: how far answerable questions' best
    scores sit above their off-article groups' (group ids offset by the number of questions, training.reader.data)."""
    n = len(corpus.questions)
    own = [i for i, p in enumerate(dev_pairs) if p.group < n]
    m = metrics([dev_pairs[i] for i in own], np.asarray(logits)[own])
    best: dict[int, float] = {}
    for p, v in zip(dev_pairs, logits):
        best[p.group] = max(best.get(p.group, -np.inf), float(v))
    answerable = [best[g] for g in best if g < n and corpus.questions[g].answer_sentence is not None]
    m["off_article_auc"] = round(roc_auc(answerable, [v for g, v in best.items() if g >= n]), 4)
    return m
