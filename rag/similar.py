"""When two questions ask the same thing, in any phrasing or language: cosine similarity of their embeddings (the
embedder the index uses, in query mode) above a threshold fitted per embedder, never set by hand.

Raw e5 similarities of questions are all high (0.84 to 0.97) and favour two questions in one language over one
question in two: what every question shares (the mean) and the top principal directions (language, "a question about
Klarna") are removed first ("all-but-the-top", Mu & Viswanath 2018), the number of directions picked on the tuning
pairs like the threshold (the most same pairs above it at the target).

The threshold comes from labelled pairs: the evaluation's tuning cases (two cases with the same evidence and no
history ask the same thing, e.g. a French question and its English twin; cases whose evidence does not overlap ask
different things) and the desk's own eval cases (a user's question and the knowledge entry saved for it ask the same
thing). The stated target: no pair of different questions is taken for the same one (an agent's saved answer quoted
for another question is worse than no answer). The threshold is the midpoint between the most similar different pair
and the least similar same pair when they separate, else just above the most similar different pair.
`python -m training.similar` fits it for an embedder and writes rag/similar.json.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

FITTED = Path(__file__).with_name("similar.json")
MARGIN = 0.005  # above the most similar different pair, when the pairs do not separate


@dataclass(frozen=True)
class Fit:
    threshold: float
    same: int  # labelled pairs
    different: int
    recall: float  # share of the same pairs at or above the threshold
    closest_different: float
    farthest_same: float


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b) / norm if norm else 0.0


@dataclass(frozen=True)
class Space:
    """Where questions are compared: embeddings less their mean and top principal directions, unit length."""

    mean: np.ndarray
    drop: np.ndarray  # (k, dim): directions removed
    threshold: float
    about: dict = field(default_factory=dict)

    def vector(self, embedding: Sequence[float]) -> np.ndarray:
        v = np.asarray(embedding, dtype=float) - self.mean
        if len(self.drop):
            v = v - (v @ self.drop.T) @ self.drop
        n = np.linalg.norm(v)
        return v / n if n else v

    def similarity(self, a: Sequence[float], b: Sequence[float]) -> float:
        return float(self.vector(a) @ self.vector(b))


def fit_space(vectors: dict[str, np.ndarray], same: list[tuple[str, str]], different: list[tuple[str, str]],
              max_drop: int = 8) -> Space:
    """The space (mean, directions removed) and threshold that meet the target with the most same pairs above it."""
    texts = sorted(vectors)
    matrix = np.array([vectors[t] for t in texts], dtype=float)
    mean = matrix.mean(axis=0)
    _, _, directions = np.linalg.svd(matrix - mean, full_matrices=False)
    best = None
    for k in range(max_drop + 1):
        space = Space(mean, directions[:k], 0.0)
        unit = {t: space.vector(vectors[t]) for t in texts}
        result = fit([float(unit[a] @ unit[b]) for a, b in same], [float(unit[a] @ unit[b]) for a, b in different])
        if best is None or result.recall > best[1].recall:
            best = (k, result)
    k, result = best
    return Space(mean, directions[:k], result.threshold, {**result.__dict__, "dropped": k})


def fit(same: list[float], different: list[float]) -> Fit:
    """The threshold for similarities of pairs known to ask the same thing and pairs known to differ (the target above)."""
    if not same or not different:
        raise ValueError("fitting the threshold needs pairs that ask the same thing and pairs that differ")
    top, low = max(different), min(same)
    threshold = round((top + low) / 2, 4) if low > top else round(top + MARGIN, 4)
    recall = sum(s >= threshold for s in same) / len(same)
    return Fit(threshold, len(same), len(different), round(recall, 3), round(top, 4), round(low, 4))


def labelled_pairs(cases: list[dict]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(same, different) question pairs from evaluation cases (JSON objects as in eval/cases/*.jsonl)."""
    plain = [c for c in cases if not c.get("history") and c.get("expect") != "handoff"]  # a handoff: one intent, any words
    same, different = [], []
    for i, a in enumerate(plain):
        for b in plain[i + 1 :]:
            ea, eb = set(a.get("evidence") or ()), set(b.get("evidence") or ())
            if ea and ea == eb:
                same.append((a["question"], b["question"]))
            elif not ea & eb:  # overlapping evidence (one question's answer inside the other's): neither label
                different.append((a["question"], b["question"]))
    return same, different


def load_space(embedder: str) -> Space | None:
    """The space fitted for this embedder (its `.name`), None when none was fitted for it."""
    fitted = json.loads(FITTED.read_text(encoding="utf-8")) if FITTED.is_file() else {}
    entry = fitted.get(embedder)
    if not entry:
        return None
    return Space(np.array(entry["mean"]), np.array(entry["drop"]).reshape(-1, len(entry["mean"])), entry["threshold"], entry["about"])


class Matcher:
    """Embeds questions (query mode) and says how close two are, and whether close enough to be the same question."""

    def __init__(self, embed: Callable[[str], list[float]], space: Space | None) -> None:
        self.embed, self.space = embed, space
        self._seen: dict[str, np.ndarray] = {}

    @property
    def ready(self) -> bool:
        return self.space is not None

    def vectors(self, texts: list[str]) -> list[np.ndarray]:
        """Each text's vector in the space (kept: the same questions are compared again on every look at the gaps)."""
        if len(self._seen) > 10_000:
            self._seen.clear()
        for t in texts:
            if t not in self._seen:
                self._seen[t] = self.space.vector(self.embed(t))
        return [self._seen[t] for t in texts]

    def same(self, a: np.ndarray, b: np.ndarray) -> bool:
        """For vectors from `vectors()`."""
        return float(a @ b) >= self.space.threshold
