"""What the reader's scorer knows of a (question, candidate sentence) pair besides reading them together.

Each feature is generic (no word list, no answer type, no hand-set weight): how close the two are in meaning
(e5 cosines, which the retriever already holds for every stored sentence), how much of the question's rarest
words the sentence and the one before it carry (idf-weighted, as BM25 weighs them), whether consecutive
question words appear together, and how the candidate compares with the best of its group. Training
(training.reader.train) and the answerer (rag.answerers.reader) call the same function, so they cannot drift apart.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..text import coverage, stems

NAMES = (
    "cos",  # e5 cosine of the question and the sentence
    "cos_previous",  # of the question and the sentence before (0 for the first of a passage)
    "cover",  # share of the question's idf weight the sentence carries
    "cover_previous",  # the same for the sentence and the one before together
    "missing",  # idf of the rarest question word absent from both, over the question's highest idf
    "bigrams",  # share of the question's adjacent word pairs found adjacent in the sentence
    "length",  # log of the sentence's length in words
    "asks",  # the sentence is itself a question
    "cos_gap",  # cos minus the best cos of the group
    "cover_gap",  # cover_previous minus the best of the group
    "question_length",  # log of the number of content words in the question
)


@dataclass(frozen=True)
class Candidate:
    text: str
    vector: Sequence[float]
    previous: str = ""
    previous_vector: Sequence[float] | None = None


def _pairs(words: list[str]) -> set[tuple[str, str]]:
    return set(itertools.pairwise(words))


def group_features(question: str, question_vector: Sequence[float], candidates: Sequence[Candidate],
                   idf: Callable[[str], float]) -> np.ndarray:
    """[len(candidates), len(NAMES)] float32: the features of each candidate of one question."""
    if not candidates:
        return np.zeros((0, len(NAMES)), dtype=np.float32)
    q_stems = stems(question)
    weights = {t: idf(t) for t in q_stems}
    highest = max(weights.values(), default=1.0) or 1.0
    q_pairs = _pairs(q_stems)
    q = np.asarray(question_vector, dtype=np.float32)
    memo: dict[str, list[str]] = {}  # a sentence is usually also the next one's previous: stem it once
    stemmed = lambda text: memo[text] if text in memo else memo.setdefault(text, stems(text))
    rows = []
    for c in candidates:
        own_words = stemmed(c.text)
        own, before = set(own_words), set(stemmed(c.previous)) if c.previous else set()
        both = own | before
        missing = [w for t, w in weights.items() if t not in both]
        rows.append([
            float(np.asarray(c.vector, dtype=np.float32) @ q),
            float(np.asarray(c.previous_vector, dtype=np.float32) @ q) if c.previous_vector is not None else 0.0,
            coverage(weights, own),
            coverage(weights, both),
            max(missing, default=0.0) / highest,
            len(q_pairs & _pairs(own_words)) / len(q_pairs) if q_pairs else 0.0,
            math.log1p(len(c.text.split())),
            1.0 if c.text.rstrip().endswith("?") else 0.0,
            0.0,
            0.0,
            math.log1p(len(weights)),
        ])
    out = np.asarray(rows, dtype=np.float32)
    out[:, NAMES.index("cos_gap")] = out[:, 0] - out[:, 0].max()
    out[:, NAMES.index("cover_gap")] = out[:, 3] - out[:, 3].max()
    return out
