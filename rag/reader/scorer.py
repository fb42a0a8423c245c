"""The reader's judgement: a small network over a (question, sentence) pair's features (rag.reader.features),
trained on the public QA data (training.reader.train), its output calibrated on the dev split into P(quoting this
sentence answers the question). A few hundred numbers: shipped as readable JSON, run with numpy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..text import language
from .features import NAMES, Candidate, group_features

WEIGHTS = Path(__file__).resolve().parent / "weights"
SAME_LANGUAGE, CROSS_LANGUAGE = "scorer.json", "scorer-crosslingual.json"
# Across languages (an English question over French text) only meaning can match, not words: that scorer reads
# the e5 features alone (a network trained on the same data without the word-overlap features).
MEANING_ONLY = ("cos", "cos_previous", "cos_gap", "length", "asks", "question_length")


@dataclass(frozen=True)
class Scorer:
    inputs: tuple[str, ...]  # the names of the features it reads (rag.reader.features.NAMES), in its order
    mean: np.ndarray
    scale: np.ndarray
    w1: np.ndarray  # [inputs, hidden]
    b1: np.ndarray
    w2: np.ndarray  # [hidden]
    b2: float
    calibration: tuple[float, float]  # Platt: P = sigmoid(a * logit + b)
    threshold: float = 0.5  # below it the answerer abstains (chosen on eval/cases/tuning.jsonl, never on held-out)

    def logits(self, features: np.ndarray) -> np.ndarray:
        """features: [n, len(NAMES)] from rag.reader.features.group_features -> [n] logits."""
        x = features[:, [NAMES.index(n) for n in self.inputs]]
        h = np.tanh(((x - self.mean) / self.scale) @ self.w1 + self.b1)
        return h @ self.w2 + self.b2

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        a, b = self.calibration
        return 1.0 / (1.0 + np.exp(-(a * self.logits(features) + b)))

    def to_json(self, extra: dict | None = None) -> str:
        body = {
            "inputs": list(self.inputs), "mean": self.mean.tolist(), "scale": self.scale.tolist(),
            "w1": self.w1.round(6).tolist(), "b1": self.b1.round(6).tolist(), "w2": self.w2.round(6).tolist(),
            "b2": round(float(self.b2), 6), "calibration": {"a": self.calibration[0], "b": self.calibration[1]},
            "threshold": self.threshold,
        }
        return json.dumps({**body, **(extra or {})}, indent=1) + "\n"

    @classmethod
    def load(cls, path: Path) -> Scorer:
        raw = json.loads(Path(path).read_text())
        inputs = tuple(raw["inputs"])
        unknown = [n for n in inputs if n not in NAMES]
        if unknown:
            raise ValueError(f"{path}: features {unknown} unknown to this version of rag.reader.features: retrain with `make train`")
        arr = lambda k: np.asarray(raw[k], dtype=np.float32)
        return cls(inputs, arr("mean"), arr("scale"), arr("w1"), arr("b1"), arr("w2"), float(raw["b2"]),
                   (float(raw["calibration"]["a"]), float(raw["calibration"]["b"])), float(raw.get("threshold", 0.5)))


class Reader:
    """The shipped reader, loaded lazily: `score(...)` -> (calibrated probability, threshold) per candidate."""

    name = "reader"

    def __init__(self, folder: Path = WEIGHTS) -> None:
        self.folder = Path(folder)
        self._scorers: dict[bool, Scorer] | None = None

    def warm_up(self) -> Reader:
        if self._scorers is None:
            paths = {False: self.folder / SAME_LANGUAGE, True: self.folder / CROSS_LANGUAGE}
            for path in paths.values():
                if not path.exists():
                    raise FileNotFoundError(f"no reader weights at {path}: train them with `make train` "
                                            "(python -m training.reader.train --data ../shared/data/qa)")
            self._scorers = {cross: Scorer.load(path) for cross, path in paths.items()}
        return self

    def score(self, question: str, vector, candidates: list[Candidate], idf) -> list[tuple[float, float]]:
        if not candidates:
            return []
        scorers = self.warm_up()._scorers
        features = group_features(question, vector, candidates, idf)
        asked = language(question)
        cross = np.asarray([language(c.text) != asked for c in candidates])
        probabilities = np.where(cross, scorers[True].probabilities(features), scorers[False].probabilities(features))
        return [(float(p), scorers[bool(x)].threshold) for p, x in zip(probabilities, cross)]
